/**
 * The remote build: the context goes to a server of the group as a tar on stdin of `docker build -`, and that
 * server's own engine builds the image for its own platform. Only the context crosses the laptop's link; the log
 * streams back line by line. The image then stays on that server (see transport/server-copy.ts for the others).
 */
import { Transform, type Readable } from 'node:stream';
import { BerthError } from '../../../../shared/errors';
import { command, docker, script, tolerant } from '../remote/command';
import type { SshConnection } from '../transport/ssh';

export interface RemoteBuildRequest {
  ssh: SshConnection;
  /** The context as a tar stream (BuildContext.tar()). */
  tar: Readable;
  tag: string;
  labels: Record<string, string>;
  onOutput: (line: string) => void;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface RemoteBuildResult {
  imageId: string;
  /** The image's platform as the server's engine recorded it (`linux/amd64`). */
  platform: string;
  sizeBytes: number;
  /** Bytes of context the laptop sent. */
  bytesSent: number;
  durationMs: number;
}

const LOG_TAIL_LINES = 40;
const DEFAULT_TIMEOUT_MS = 30 * 60_000;

/** The server-side commands of a remote build, kept apart from the code that runs them. */
export const remoteBuildCommands = {
  /** The classic builder reads a tar context on stdin with `-`; `--progress plain` is BuildKit's line output. */
  /** Prints its own pid first (the cancel's target), then becomes `docker build`: $1 the tag, the rest its labels. */
  build: (tag: string, labels: Record<string, string>) =>
    script('echo "berth-build-pid $$"; t=$1; shift; exec docker build -t "$t" "$@" - 2>&1', tag, ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`])),
  /** SIGINT makes the docker client cancel the build in the daemon. */
  stop: (pid: number) => tolerant(command('kill', '-INT', pid).silenced(true)),
  inspect: (tag: string) => docker('image', 'inspect', '--format', '{{.Id}} {{.Os}}/{{.Architecture}} {{.Size}}', tag),
  removeImage: (tag: string) => tolerant(docker('rmi', '-f', tag).silenced(true)),
};

/** Counts the bytes that pass: what the laptop really sent. */
function byteCounter(): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}

/** Splits a stream of text into lines, each handed over once complete (the last one at the end). */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      const lines = (rest + chunk.toString('utf8')).split(/\r?\n/);
      rest = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    },
    end() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}

/** Runs `docker build -` on the server with the tar on stdin; resolves with the exit code and the log's last lines. */
async function streamBuild(req: RemoteBuildRequest, counter: Transform & { bytes: number }): Promise<{ code: number; tail: string[]; pid: number | null }> {
  const channel = await req.ssh.stream(remoteBuildCommands.build(req.tag, req.labels));
  const tail: string[] = [];
  let pid: number | null = null;
  const split = lineSplitter((line) => {
    const own = /^berth-build-pid (\d+)$/.exec(line);
    if (own && pid === null) return void (pid = Number(own[1]));
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
    req.onOutput(line);
  });
  return new Promise((resolve, reject) => {
    let code = -1;
    let abortedBy: BerthError | null = null;
    const stop = (error: BerthError) => {
      abortedBy = error;
      req.tar.unpipe(counter);
      channel.close();
    };
    const onAbort = () => stop(new BerthError('Cancelled', 'The remote build was cancelled.'));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => stop(new BerthError('BuildFailed', `The remote build on ${req.ssh.target.host} took longer than ${Math.round((req.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 60_000)} min`)),
      req.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    channel.on('data', (chunk: Buffer) => split.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => split.push(chunk));
    channel.on('exit', (exitCode: number | null) => (code = exitCode ?? -1));
    channel.on('close', () => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      split.end();
      if (abortedBy) reject(Object.assign(abortedBy, { pid }));
      else resolve({ code, tail, pid });
    });
    req.tar.on('error', (err: Error) => stop(new BerthError('BuildFailed', `Reading the build context failed: ${err.message}`)));
    req.tar.pipe(counter).pipe(channel);
  });
}

/**
 * Builds the image on the server. A failed build is a BuildFailed with the log's tail; a cancelled or failed one
 * leaves no partial image under the tag.
 */
export async function remoteBuild(req: RemoteBuildRequest): Promise<RemoteBuildResult> {
  const started = Date.now();
  const host = req.ssh.target.host;
  if (req.signal?.aborted) throw new BerthError('Cancelled', 'The remote build was cancelled.');
  const counter = byteCounter();
  const removePartial = () => req.ssh.exec(remoteBuildCommands.removeImage(req.tag), { timeoutMs: 60_000 }).catch(() => undefined);
  let outcome: { code: number; tail: string[] };
  try {
    outcome = await streamBuild(req, counter);
  } catch (err) {
    // The channel is closed; the docker client may still run there: stop it, then remove what it made.
    const pid = (err as { pid?: number | null }).pid;
    if (pid) await req.ssh.exec(remoteBuildCommands.stop(pid), { timeoutMs: 15_000 }).catch(() => undefined);
    await removePartial();
    throw err;
  }
  if (outcome.code !== 0) {
    await removePartial();
    throw new BerthError(
      'BuildFailed',
      `docker build on ${host} failed (exit ${outcome.code}). The log ends with:\n${outcome.tail.join('\n')}`,
      { code: outcome.code, logTail: outcome.tail.join('\n'), bytesSent: counter.bytes },
    );
  }
  const [imageId, platform, size] = (await req.ssh.run(remoteBuildCommands.inspect(req.tag), { timeoutMs: 30_000 })).trim().split(' ');
  return { imageId, platform, sizeBytes: Number(size), bytesSent: counter.bytes, durationMs: Date.now() - started };
}
