/**
 * The smoke test of a remote build, on the server that built it: the image runs there once (`--network host` on a
 * free port, as replicas do), answers the notebook's sample over the server's loopback, and is removed.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SmokeResult } from '../../../../shared/build';
import { BerthError } from '../../../../shared/errors';
import type { SampleIO } from '../../../../shared/project';
import { command, docker, tolerant } from '../remote/command';
import { labels } from '../remote/layout';
import { parseResponse, remoteGet, type RemoteHttpResponse } from '../deploy/remote-http';
import { freePorts } from '../deploy/replicas';
import type { SshConnection } from '../transport/ssh';
import { compareJson, NO_SAMPLE_REASON } from './smoke';

export interface RemoteSmokeRequest {
  ssh: SshConnection;
  image: string;
  project: string;
  sample: SampleIO | null;
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** One HTTP/1.0 POST through bash's /dev/tcp: $1 port, $2 path, $3 the body's length; the body arrives on stdin. */
const HTTP_POST =
  'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "POST %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/json\\r\\nX-Request-Id: berth-smoke-test\\r\\nContent-Length: %s\\r\\n\\r\\n" "$2" "$3" >&3 && cat >&3 && cat <&3';

export const remoteSmokeCommands = {
  run: (name: string, image: string, project: string, port: number) =>
    docker(
      'run', '-d', '--name', name, '--network', 'host',
      '--label', 'berth.smoke=true', '--label', `berth.project=${project}`, '--label', `${labels.port}=${port}`,
      '-e', `PORT=${port}`, '-e', 'BERTH_HOST=127.0.0.1', '-e', 'BERTH_MODEL_VERSION=smoke-test',
      image,
    ),
  state: (name: string) => docker('inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', name),
  logTail: (name: string) => docker('logs', '--tail', 60, name).withErrorsInOutput(),
  remove: (name: string) => tolerant(docker('rm', '-f', name).silenced(true)),
  post: (port: number, path: string, length: number, timeoutSeconds: number) =>
    command('bash', '-c', HTTP_POST, 'remote-post', port, path, length).under('timeout', timeoutSeconds).withoutErrorOutput(),
};

/** A POST to a port on the server's own loopback, from the server itself; status 0 when nothing answers. */
export async function remotePost(ssh: SshConnection, port: number, path: string, body: string, timeoutSeconds = 60): Promise<RemoteHttpResponse> {
  const result = await ssh.exec(remoteSmokeCommands.post(port, path, Buffer.byteLength(body), timeoutSeconds), { stdin: body, timeoutMs: (timeoutSeconds + 8) * 1000 });
  return parseResponse(result.stdout.toString());
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** Runs the smoke test on the server; resolves `passed`/`skipped`, rejects SmokeTestFailed (detail: the result) or Cancelled. */
export async function remoteSmokeTest(req: RemoteSmokeRequest): Promise<SmokeResult> {
  const { ssh, sample, signal } = req;
  if (!sample) return { status: 'skipped', reason: NO_SAMPLE_REASON };
  const started = Date.now();
  const name = `berth-smoke-${req.project}-${randomBytes(4).toString('hex')}`;
  const logTail = async () => (await ssh.exec(remoteSmokeCommands.logTail(name), { timeoutMs: 15_000 }).catch(() => null))?.stdout.toString().trimEnd() ?? '';
  const fail = async (reason: string): Promise<never> => {
    const result: SmokeResult = { status: 'failed', reason, logTail: await logTail(), differences: [] };
    throw new BerthError('SmokeTestFailed', `Smoke test on ${ssh.target.host} failed: ${reason}`, result);
  };
  const checkCancelled = () => {
    if (signal?.aborted) throw new BerthError('Cancelled', 'The smoke test was cancelled; its container was removed.');
  };
  try {
    const [port] = await freePorts(ssh, 1);
    await ssh.run(remoteSmokeCommands.run(name, req.image, req.project, port), { timeoutMs: 60_000 });
    const deadline = started + (req.readyTimeoutMs ?? 60_000);
    let readyMs: number | null = null;
    while (readyMs === null) {
      checkCancelled();
      const [running, exitCode] = (await ssh.run(remoteSmokeCommands.state(name), { timeoutMs: 15_000 })).trim().split(' ');
      if (running !== 'true') return await fail(`the model container exited with code ${exitCode} before it was ready (see the log below).`);
      const probe = await remoteGet(ssh, port, '/readyz');
      if (probe.status === 200) readyMs = Date.now() - started;
      else if (Date.now() >= deadline) return await fail(`the model was not ready within ${Math.round((req.readyTimeoutMs ?? 60_000) / 1000)} s.`);
      else await sleep(250);
    }
    checkCancelled();
    const predict = await remotePost(ssh, port, '/predict', JSON.stringify({ inputs: sample.input }));
    if (predict.status === 0) return await fail('POST /predict did not answer.');
    const answer = parse(predict.body) as { predictions?: unknown; error?: { message?: string } };
    if (predict.status !== 200) return await fail(`POST /predict answered ${predict.status}: ${answer?.error?.message ?? predict.body.slice(0, 200)}`);
    const differences = compareJson(sample.expectedOutput, answer.predictions);
    if (differences.length) {
      const result: SmokeResult = { status: 'failed', reason: `the image answers the sample differently from the notebook (${differences.length} differences).`, logTail: await logTail(), differences };
      throw new BerthError('SmokeTestFailed', `Smoke test on ${ssh.target.host} failed: ${result.reason}`, result);
    }
    return { status: 'passed', readyMs, durationMs: Date.now() - started, input: sample.input, output: answer.predictions as never };
  } finally {
    await ssh.exec(remoteSmokeCommands.remove(name), { timeoutMs: 60_000 }).catch(() => undefined);
  }
}
