import { script, type RemoteCommand } from '../remote/command';
import type { SshConnection } from '../transport/ssh';
import type { GatewayEntry, InferenceStore, ServerRef } from './inference-store';

/** Where the last pull stopped: `seq` is the truth; (inode, offset) is a hint that saves re-reading rotated files. */
export interface GatewayCursor {
  /** Bumped when the server's numbering starts again (its log folder was wiped). */
  epoch: number;
  seq: number;
  inode: string | null;
  /** First seq of the hinted file: inode numbers are reused once a rotated file is deleted. */
  firstSeq?: number | null;
  offset: number;
}

interface LogFile {
  inode: string;
  size: number;
  name: string;
  firstSeq: number | null;
}

export interface PullOptions {
  /** Bytes read per round trip. */
  chunkBytes?: number;
  /** Round trips per pull; the next pull continues where this one stopped. */
  maxChunks?: number;
  timeoutMs?: number;
}

export interface PullResult {
  added: number;
  gaps: number;
  malformed: number;
}

const records = (n: number) => `${n} gateway record${n === 1 ? '' : 's'}`;

const SEQ_OF_HEAD = `sed -n '1s/^{"seq":\\([0-9]*\\).*/\\1/p'`;

/** One round trip: inode, size, name and first seq of every log file in $1, and the newest seq written; berth-shell's `request-log-list` prints the same. */
export function listCommand(dir: string): RemoteCommand {
  const text = [
    `cd "$1" 2>/dev/null || exit 0`,
    `for f in requests.jsonl requests.jsonl.[0-9]*; do [ -f "$f" ] || continue; ` +
      `s=$(head -c 40 "$f" | ${SEQ_OF_HEAD}); echo "@file $(stat -c '%i %s' "$f") $f \${s:--}"; done`,
    `for f in requests.jsonl requests.jsonl.1; do l=$(tail -n 1 "$f" 2>/dev/null | head -c 40 | ${SEQ_OF_HEAD}); [ -n "$l" ] && break; done`,
    `echo "@last \${l:--}"`,
  ].join('\n');
  return script(text, dir).asVerb(['request-log-list']);
}

/**
 * Reads `bytes` from `offset` of the file only if it is still the same inode (the gateway renames files when it
 * rotates); opening it once on fd 3 makes the check and the read refer to the same file. Exit 4: it was rotated.
 */
export function readCommand(dir: string, file: LogFile, offset: number, bytes: number): RemoteCommand {
  return script(
    'cd "$1" && exec 3<"$2" || exit 4; [ "$(stat -L -c %i /dev/fd/3)" = "$3" ] || exit 4; tail -c +"$4" <&3 | head -c "$5"',
    dir,
    file.name,
    file.inode,
    offset + 1,
    bytes,
  ).asVerb(['request-log-read', file.name, file.inode, offset, bytes]);
}

export function parseListing(text: string): { files: LogFile[]; lastSeq: number | null } {
  const files: LogFile[] = [];
  let lastSeq: number | null = null;
  for (const line of text.split('\n')) {
    const file = /^@file (\d+) (\d+) (requests\.jsonl(?:\.(\d+))?) (\d+|-)$/.exec(line);
    if (file) files.push({ inode: file[1], size: Number(file[2]), name: file[3], firstSeq: file[5] === '-' ? null : Number(file[5]) });
    const last = /^@last (\d+)$/.exec(line);
    if (last) lastSeq = Number(last[1]);
  }
  // Oldest first: requests.jsonl.<highest> … requests.jsonl.1, then requests.jsonl.
  const rank = (name: string) => (name === 'requests.jsonl' ? 0 : Number(name.slice('requests.jsonl.'.length)));
  files.sort((a, b) => rank(b.name) - rank(a.name));
  return { files, lastSeq };
}

export function parseGatewayLine(line: string): GatewayEntry | null {
  if (!line.startsWith('{')) return null;
  try {
    const entry = JSON.parse(line) as GatewayEntry;
    return Number.isSafeInteger(entry.seq) && entry.seq > 0 && typeof entry.request_id === 'string' ? entry : null;
  } catch {
    return null;
  }
}

/**
 * Pulls the gateway's request log of one server into the store, without duplicates or gaps: every line has a
 * `seq`; rows and the cursor are committed in one transaction, and a (server, epoch, seq) unique index makes a
 * repeated read harmless. A jump in seq means rotation removed lines before they were pulled: it is recorded as a gap.
 */
export async function pullGatewayLog(
  ssh: SshConnection,
  server: ServerRef,
  store: InferenceStore,
  dir: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  const maxChunks = options.maxChunks ?? 64;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const result: PullResult = { added: 0, gaps: 0, malformed: 0 };
  let cursor = store.cursor<GatewayCursor>(server.id, 'gateway') ?? { epoch: 0, seq: 0, inode: null, offset: 0 };

  const { files, lastSeq } = parseListing(await ssh.run(listCommand(dir), { timeoutMs }));
  if (files.length === 0) return result;
  if (lastSeq !== null && lastSeq < cursor.seq) {
    // Numbering went backwards: the folder was emptied and the gateway started again from 1.
    cursor = { epoch: cursor.epoch + 1, seq: 0, inode: null, offset: 0 };
    store.setCursor(server.id, 'gateway', cursor);
  }

  let start = files.findIndex((f) => f.inode === cursor.inode && f.firstSeq === (cursor.firstSeq ?? null) && f.size >= cursor.offset);
  let offset = start >= 0 ? cursor.offset : 0;
  if (start < 0) {
    // No usable hint: start at the newest file that begins at or before the next seq (older ones are all pulled).
    start = 0;
    for (let i = files.length - 1; i >= 0; i--) {
      const first = files[i].firstSeq;
      if (first !== null && first <= cursor.seq + 1) {
        start = i;
        break;
      }
    }
  }

  let chunks = 0;
  for (let i = start; i < files.length && chunks < maxChunks; i++, offset = 0) {
    const file = files[i];
    const newest = i === files.length - 1;
    while (chunks < maxChunks) {
      if (!newest && offset >= file.size) break;
      chunks++;
      const read = await ssh.exec(readCommand(dir, file, offset, chunkBytes), { timeoutMs });
      if (read.code === 4) return result; // rotated while we read: the next pull continues from the cursor
      const data = read.stdout;
      const end = data.lastIndexOf(10);
      if (end < 0) break; // nothing complete yet (the gateway flushes every 200 ms)
      const entries: GatewayEntry[] = [];
      const gaps: Array<{ after: number; before: number; ts: string }> = [];
      let seq = cursor.seq;
      for (const line of data.subarray(0, end).toString('utf8').split('\n')) {
        if (!line) continue;
        const entry = parseGatewayLine(line);
        if (!entry) {
          result.malformed++;
          continue;
        }
        if (entry.seq <= seq) continue;
        if (entry.seq > seq + 1) gaps.push({ after: seq, before: entry.seq, ts: entry.ts });
        seq = entry.seq;
        entries.push(entry);
      }
      const next: GatewayCursor = { epoch: cursor.epoch, seq, inode: file.inode, firstSeq: file.firstSeq, offset: offset + end + 1 };
      store.transaction(() => {
        result.added += store.addGateway(server, cursor.epoch, entries);
        for (const gap of gaps) {
          const missing = gap.before - gap.after - 1;
          store.addGap({
            server,
            source: 'gateway',
            after: `seq ${gap.after}`,
            before: `seq ${gap.before}`,
            missing,
            atMs: Date.parse(gap.ts) || Date.now(),
            message:
              gap.after === 0
                ? `${records(missing)} on ${server.name} had been rotated away before Berth first pulled them`
                : `${records(missing)} on ${server.name} (seq ${gap.after + 1 === gap.before - 1 ? gap.after + 1 : `${gap.after + 1}–${gap.before - 1}`}) ` +
                  `${missing === 1 ? 'was' : 'were'} rotated away before Berth pulled ${missing === 1 ? 'it' : 'them'}: the gateway keeps a bounded number of log files`,
          });
        }
        store.setCursor(server.id, 'gateway', next);
      });
      result.gaps += gaps.length;
      cursor = next;
      offset = next.offset;
      if (data.length < chunkBytes) break;
    }
  }
  return result;
}
