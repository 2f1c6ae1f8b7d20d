import { script, type RemoteCommand } from '../remote/command';
import type { SshConnection } from '../transport/ssh';
import type { InferenceStore, ReplicaEntry, ServerRef } from './inference-store';
import { compareDockerTs, splitTimestamp, type BerthContainer } from './remote';

/** The Docker timestamp of the newest request line pulled from one container. */
export interface ReplicaCursor {
  ts: string;
  name: string;
}

export interface ReplicaPullResult {
  added: number;
  gaps: number;
}

const PROBES = new Set(['/healthz', '/readyz']);
const FIRST_MARK = '@first ';

/**
 * One round trip per container ($1 id, $2 bytes, $3 the cursor's time or ''): with a cursor, the oldest line Docker
 * still keeps (to notice rotation overtaking the pull), then the request lines since the cursor. `--since` is
 * inclusive, so the cursor's own line comes back and is dropped by the (server, container, Docker timestamp) key.
 * Only stdout carries request lines, and Docker stamps one stream's lines in order, so nothing after the cursor can
 * be skipped. berth-shell's `request-lines` prints the same.
 */
export function replicaCommand(container: Pick<BerthContainer, 'id' | 'name'>, cursor: ReplicaCursor | null, bytes: number): RemoteCommand {
  const text = [
    `if [ -n "$3" ]; then echo "${FIRST_MARK}$(docker logs --timestamps "$1" 2>/dev/null | head -n 1 | cut -d' ' -f1)"; set -- "$1" "$2" --since="$3"; else set -- "$1" "$2"; fi`,
    'id=$1; n=$2; shift 2',
    `docker logs --timestamps "$@" "$id" 2>/dev/null | grep -E '"type": ?"request"' | head -c "$n"`,
  ].join('\n');
  const verb = ['request-lines', container.name, ...(cursor ? ['--since', cursor.ts, '--first'] : []), '--bytes', bytes];
  return script(text, container.id, bytes, cursor?.ts ?? '').asVerb(verb);
}

export function parseReplicaLine(line: string): ReplicaEntry | null {
  const [dockerTs, text] = splitTimestamp(line);
  if (!dockerTs || !text.startsWith('{')) return null;
  try {
    const record = JSON.parse(text) as Partial<ReplicaEntry> & { type?: string };
    if (record.type !== 'request' || typeof record.request_id !== 'string') return null;
    return {
      dockerTs,
      ts: typeof record.ts === 'string' ? record.ts : dockerTs,
      request_id: record.request_id,
      method: record.method ?? null,
      path: record.path ?? null,
      status: typeof record.status === 'number' ? record.status : null,
      latency_ms: typeof record.latency_ms === 'number' ? record.latency_ms : null,
      model: record.model ?? null,
      model_version: record.model_version === undefined || record.model_version === null ? null : String(record.model_version),
      caller: record.caller ?? null,
      input: record.input ?? null,
      output: record.output ?? null,
      error: record.error ?? null,
    };
  } catch {
    return null;
  }
}

/** Pulls the request lines of one replica container into the store; bounded per call, resumable by cursor. */
export async function pullReplicaLog(
  ssh: SshConnection,
  server: ServerRef,
  container: Pick<BerthContainer, 'id' | 'name'>,
  store: InferenceStore,
  options: { chunkBytes?: number; maxChunks?: number; timeoutMs?: number } = {},
): Promise<ReplicaPullResult> {
  const chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  const maxChunks = options.maxChunks ?? 16;
  const source = `replica:${container.id}`;
  const result: ReplicaPullResult = { added: 0, gaps: 0 };
  let cursor = store.cursor<ReplicaCursor>(server.id, source);

  for (let chunk = 0; chunk < maxChunks; chunk++) {
    const out = await ssh.run(replicaCommand(container, cursor, chunkBytes), { timeoutMs: options.timeoutMs ?? 30_000 });
    let body = out;
    let oldest = '';
    if (out.startsWith(FIRST_MARK)) {
      const nl = out.indexOf('\n');
      oldest = out.slice(FIRST_MARK.length, nl).trim();
      body = out.slice(nl + 1);
    }
    const complete = Buffer.byteLength(body) >= chunkBytes ? body.slice(0, body.lastIndexOf('\n') + 1) : body;
    const entries: ReplicaEntry[] = [];
    let newest = cursor?.ts ?? '';
    for (const line of complete.split('\n')) {
      const entry = parseReplicaLine(line);
      if (!entry) continue;
      if (!newest || compareDockerTs(entry.dockerTs, newest) > 0) newest = entry.dockerTs;
      if (entry.path && PROBES.has(entry.path)) continue;
      entries.push(entry);
    }
    const gap = cursor && oldest && compareDockerTs(oldest, cursor.ts) > 0 ? { after: cursor.ts, before: oldest } : null;
    store.transaction(() => {
      result.added += store.addReplica(server, container, entries);
      if (gap) {
        store.addGap({
          server,
          source: `replica ${container.name}`,
          after: gap.after,
          before: gap.before,
          missing: null,
          atMs: Date.parse(gap.before) || Date.now(),
          message: `Docker rotated the log of ${container.name} on ${server.name} before Berth pulled it: requests between ${gap.after} and ${gap.before} may be missing (json-file keeps max-size × max-file)`,
        });
      }
      if (newest) store.setCursor(server.id, source, { ts: newest, name: container.name } satisfies ReplicaCursor);
    });
    if (gap) result.gaps++;
    const advanced = newest && newest !== cursor?.ts;
    cursor = newest ? { ts: newest, name: container.name } : cursor;
    if (complete.length === body.length || !advanced) break;
  }
  return result;
}
