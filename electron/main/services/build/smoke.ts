/**
 * Smoke test: start the built image once on this machine, wait for /readyz, send the notebook's sample to
 * /predict and compare the answer with what the notebook computed. The container is always removed.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type Docker from 'dockerode';
import type { SmokeDifference, SmokeResult } from '../../../../shared/build';
import { BerthError } from '../../../../shared/errors';
import type { SampleIO } from '../../../../shared/project';
import { SERVING_PORT } from './dockerfile';

export const NO_SAMPLE_REASON =
  'The notebook has no sample input, so nothing shows the image answers like the notebook: add a cell tagged `sample-input` ' +
  '(e.g. `sample_input = [[5.1, 3.5, 1.4, 0.2]]`) and build again. Deploying stays blocked until the smoke test passes.';

export interface SmokeRequest {
  docker: Docker;
  image: string;
  project: string;
  sample: SampleIO | null;
  /** How long to wait for /readyz (default 60 s). */
  readyTimeoutMs?: number;
  /** How long /predict may take (default 60 s). */
  predictTimeoutMs?: number;
  signal?: AbortSignal;
  /** Extra labels for the container (tests use them to find leftovers). */
  labels?: Record<string, string>;
}

const POLL_MS = 250;
const LOG_TAIL_LINES = 60;
const MAX_DIFFERENCES = 20;
/** Relative tolerance for numbers; the absolute floor only absorbs noise around zero. */
const RELATIVE_TOLERANCE = 1e-6;
const ABSOLUTE_FLOOR = 1e-12;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function numbersClose(a: number, b: number): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= Math.max(RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b)), ABSOLUTE_FLOOR);
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Deep comparison of JSON values with a relative float tolerance; returns where they differ. */
export function compareJson(expected: unknown, actual: unknown, path = '$', out: SmokeDifference[] = []): SmokeDifference[] {
  if (out.length >= MAX_DIFFERENCES) return out;
  const ke = kind(expected);
  const ka = kind(actual);
  if (ke !== ka) {
    out.push({ path, expected: expected as Json, actual: actual as Json, reason: `expected ${ke}, got ${ka}` });
    return out;
  }
  if (ke === 'number') {
    if (!numbersClose(expected as number, actual as number)) out.push({ path, expected: expected as Json, actual: actual as Json, reason: 'numbers differ' });
  } else if (ke === 'array') {
    const e = expected as unknown[];
    const a = actual as unknown[];
    if (e.length !== a.length) out.push({ path, reason: `expected ${e.length} items, got ${a.length}` });
    for (let i = 0; i < Math.min(e.length, a.length); i++) compareJson(e[i], a[i], `${path}[${i}]`, out);
  } else if (ke === 'object') {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      const child = /^[A-Za-z_]\w*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (!Object.hasOwn(a, key)) out.push({ path: child, expected: e[key] as Json, reason: 'missing in the answer' });
      else compareJson(e[key], a[key], child, out);
    }
    for (const key of Object.keys(a)) {
      if (!Object.hasOwn(e, key)) out.push({ path: `${path}.${key}`, actual: a[key] as Json, reason: 'not in the notebook\'s answer' });
    }
  } else if (expected !== actual) {
    out.push({ path, expected: expected as Json, actual: actual as Json, reason: 'values differ' });
  }
  return out.slice(0, MAX_DIFFERENCES);
}

/** Splits Docker's multiplexed log stream (non-TTY containers) into text. */
export function demuxLogs(buf: Buffer): string {
  const parts: string[] = [];
  let i = 0;
  while (i + 8 <= buf.length && buf[i] <= 2 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size).toString('utf8'));
    i += 8 + size;
  }
  if (i < buf.length) parts.push(buf.subarray(i).toString('utf8'));
  return parts.join('');
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

interface SmokeHttp {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * One exchange with the container; null when it did not answer (not listening yet, reset, timed out, cancelled).
 * node:http, not fetch: Docker's port proxy accepts and then drops connections while the model is not listening
 * yet, and Node 20's fetch then never settles; with only AbortSignal.timeout's unref'd timer left, the CLI ran
 * out of work and exited 0 in the middle of the smoke test.
 */
function request(url: string, init: SmokeHttp): Promise<{ status: number; body: unknown } | null> {
  return new Promise((resolve) => {
    const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
    const req = http.request(url, { method: init.method, headers, signal: init.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => settle({ status: res.statusCode ?? 0, body: parseBody(Buffer.concat(chunks).toString('utf8')) }));
      res.on('close', () => settle(null)); // cut off before the end
    });
    const timer = setTimeout(() => req.destroy(), init.timeoutMs);
    function settle(answer: { status: number; body: unknown } | null) {
      clearTimeout(timer);
      resolve(answer);
    }
    req.on('error', () => settle(null));
    req.end(init.body);
  });
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: keep the text
  }
}

/**
 * Runs the smoke test. Resolves with `passed` or `skipped` (no sample); rejects with SmokeTestFailed (crash,
 * timeout, wrong answer; detail holds the log tail and the differences) or Cancelled.
 */
export async function smokeTest(req: SmokeRequest): Promise<SmokeResult> {
  const { docker, sample, signal } = req;
  if (!sample) return { status: 'skipped', reason: NO_SAMPLE_REASON };
  const readyTimeoutMs = req.readyTimeoutMs ?? 60_000;
  const started = Date.now();
  const name = `berth-smoke-${req.project}-${randomBytes(4).toString('hex')}`;
  const portKey = `${SERVING_PORT}/tcp`;
  const container = await docker.createContainer({
    name,
    Image: req.image,
    Env: [`PORT=${SERVING_PORT}`, `BERTH_MODEL_VERSION=smoke-test`],
    Labels: { 'berth.smoke': 'true', 'berth.project': req.project, ...req.labels },
    ExposedPorts: { [portKey]: {} },
    HostConfig: { PortBindings: { [portKey]: [{ HostIp: '127.0.0.1', HostPort: '' }] }, AutoRemove: false },
  });

  const logTail = async () => {
    const raw = (await container.logs({ stdout: true, stderr: true, follow: false, tail: LOG_TAIL_LINES }).catch(() => Buffer.alloc(0))) as Buffer;
    return demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))).trimEnd();
  };
  const fail = async (reason: string, extra: Record<string, unknown> = {}, differences: SmokeDifference[] = []): Promise<never> => {
    const tail = await logTail();
    const result: SmokeResult = { status: 'failed', reason, logTail: tail, differences };
    throw new BerthError('SmokeTestFailed', `Smoke test failed: ${reason}`, { ...result, ...extra });
  };
  const checkCancelled = () => {
    if (signal?.aborted) throw new BerthError('Cancelled', 'The smoke test was cancelled; its container was removed.');
  };

  try {
    checkCancelled();
    await container.start();
    const exited = (state: { Running: boolean; ExitCode: number }) =>
      fail(`the model container exited with code ${state.ExitCode} before it was ready (see the log below).`, { exitCode: state.ExitCode });
    const info = await container.inspect();
    if (!info.State.Running) return await exited(info.State);
    const hostPort = info.NetworkSettings.Ports?.[portKey]?.[0]?.HostPort;
    if (!hostPort) return await fail(`Docker did not publish port ${SERVING_PORT} of the container on 127.0.0.1.`);
    const base = `http://127.0.0.1:${hostPort}`;

    // Wait for /readyz, watching for the container to exit (a model that fails to load exits with code 3).
    const deadline = started + readyTimeoutMs;
    let readyMs: number | null = null;
    for (let attempt = 0; readyMs === null; attempt++) {
      checkCancelled();
      const state = (await container.inspect()).State;
      if (!state.Running) return await exited(state);
      const probe = await request(`${base}/readyz`, { method: 'GET', timeoutMs: 2000, signal });
      if (probe?.status === 200) {
        readyMs = Date.now() - started;
        break;
      }
      const body = probe?.body as { status?: string; error?: string } | undefined;
      if (probe?.status === 503 && body?.status === 'failed') return await fail(`the model failed to load: ${body.error ?? 'unknown error'}.`);
      if (Date.now() >= deadline) return await fail(`the model was not ready within ${Math.round(readyTimeoutMs / 1000)} s.`, { timedOut: true });
      await sleep(Math.min(POLL_MS * (attempt < 8 ? 1 : 2), Math.max(0, deadline - Date.now())), signal);
    }

    checkCancelled();
    const predict = await request(`${base}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'berth-smoke-test' },
      body: JSON.stringify({ inputs: sample.input }),
      timeoutMs: req.predictTimeoutMs ?? 60_000,
      signal,
    });
    checkCancelled();
    if (!predict) return await fail('POST /predict did not answer.');
    const answer = predict.body as { predictions?: unknown; error?: { kind?: string; message?: string } };
    if (predict.status !== 200) {
      return await fail(`POST /predict answered ${predict.status}: ${answer?.error?.message ?? JSON.stringify(predict.body)}`, { status: predict.status });
    }
    const differences = compareJson(sample.expectedOutput, answer.predictions);
    if (differences.length) {
      return await fail(
        `the image answers the sample differently from the notebook (${differences.length === MAX_DIFFERENCES ? 'at least ' : ''}${differences.length} difference${differences.length === 1 ? '' : 's'}).`,
        { expected: sample.expectedOutput, actual: answer.predictions },
        differences,
      );
    }
    return { status: 'passed', readyMs, durationMs: Date.now() - started, input: sample.input, output: answer.predictions as Json };
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}
