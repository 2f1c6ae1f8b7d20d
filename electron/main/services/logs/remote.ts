import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';
import { docker, script, type RemoteCommand } from '../remote/command';
import type { SshConnection } from '../transport/ssh';

/**
 * Wraps a long-running remote command (`docker logs -f`, `docker events`: one program and its words) so it dies with
 * the SSH channel. Closing an exec channel does not signal the process: a quiet `docker logs -f` would live on until
 * it next writes. A watcher reads the channel's stdin and kills the command at EOF, i.e. when Berth closes the
 * channel or the connection drops. (POSIX gives background jobs /dev/null as stdin, hence the copy on fd 3.) A
 * member's key sends the command's verb instead: berth-shell ends with the session.
 */
export function tiedToChannel(remote: RemoteCommand): RemoteCommand {
  const words = remote.parts.map((part) => {
    if (typeof part !== 'string' && typeof part !== 'number') throw new Error(`Only one simple command can be tied to a channel: ${remote}`);
    return part;
  });
  const tied = script(TIED, ...words);
  return remote.verb ? tied.asVerb([...remote.verb.words]) : tied;
}

// `exec` makes $p the command itself, so killing $p stops it.
const TIED = 'exec 3<&0; (exec "$@") & p=$!; { cat <&3 >/dev/null 2>&1; kill $p 2>/dev/null; } >/dev/null 2>&1 & w=$!; wait $p; rc=$?; kill $w 2>/dev/null; exit $rc';

/** Ends a channel opened with `tiedToChannel`: EOF on stdin stops the remote command, close frees the channel. */
export function closeTied(channel: ClientChannel): void {
  try {
    channel.end();
  } catch {
    // already gone
  }
  try {
    channel.close();
  } catch {
    // already gone
  }
}

const MAX_LINE_CHARS = 16 * 1024;

/**
 * Splits a byte stream into UTF-8 lines. A line longer than 16 KiB is cut there (marked with …) and the rest of it
 * dropped, so one runaway line cannot hold memory.
 */
export function lineSplitter(onLine: (line: string) => void) {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let discarding = false;
  const emit = (line: string) => {
    if (discarding) discarding = false;
    else onLine(line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line);
  };
  return {
    push(chunk: Buffer) {
      partial += decoder.write(chunk);
      let start = 0;
      for (let nl = partial.indexOf('\n', start); nl !== -1; nl = partial.indexOf('\n', start)) {
        const end = nl > start && partial.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        emit(partial.slice(start, end));
        start = nl + 1;
      }
      partial = partial.slice(start);
      if (partial.length > MAX_LINE_CHARS && !discarding) {
        onLine(`${partial.slice(0, MAX_LINE_CHARS)}…`);
        discarding = true;
      }
      if (discarding) partial = '';
    },
    end() {
      partial += decoder.end();
      if (partial) emit(partial);
      partial = '';
      discarding = false;
    },
  };
}

/** `2025-01-31T12:00:00.123456789Z text` → [ts, text]; lines without a Docker timestamp keep ts ''. */
export function splitTimestamp(line: string): [string, string] {
  const space = line.indexOf(' ');
  if (space >= 20 && space <= 40 && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(line)) return [line.slice(0, space), line.slice(space + 1)];
  return ['', line];
}

/** Docker's RFC 3339 timestamps with up to 9 fractional digits, compared exactly (Date has only milliseconds). */
export function compareDockerTs(a: string, b: string): number {
  const norm = (ts: string) => {
    const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
    if (!m) return ts;
    // Docker always writes UTC with Z; other offsets only come from users and sort by their text.
    return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}`;
  };
  const x = norm(a);
  const y = norm(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface BerthContainer {
  id: string;
  name: string;
  state: string;
  model: string | null;
  version: number | null;
  replica: number | null;
  port: number | null;
}

const numberOrNull = (text: string | undefined) => (text && /^\d+$/.test(text) ? Number(text) : null);

/** Every container whose name starts with `berth-` (replicas and the gateway), running or not: berth-shell's `ps`. */
export async function listBerthContainers(ssh: SshConnection, timeoutMs = 8000): Promise<BerthContainer[]> {
  const out = await ssh.run(docker('ps', '-a', '--no-trunc', '--filter', 'name=^berth-', '--format', '{{json .}}').asVerb(['ps']), { timeoutMs });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { ID: string; Names: string; State: string; Labels: string })
    .filter((c) => c.Names.startsWith('berth-'))
    .map((c) => {
      const labels = labelsOf(c.Labels);
      return {
        id: c.ID,
        name: c.Names,
        state: c.State,
        model: labels.get('berth.model') || null,
        version: numberOrNull(labels.get('berth.version')),
        replica: numberOrNull(labels.get('berth.replica')),
        port: numberOrNull(labels.get('berth.port')),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** docker ps's `Labels`: `k=v,k=v` (Berth's label values have no commas). */
function labelsOf(text: string): Map<string, string> {
  return new Map(
    text
      .split(',')
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as [string, string]),
  );
}
