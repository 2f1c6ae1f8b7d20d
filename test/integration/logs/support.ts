import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBerth, type Berth } from '../../../electron/main/app';
import { shellQuote } from '../../../electron/main/services/transport/ssh';
import { bedDir, loadBed, type Bed } from '../bed';

export const BASE_IMAGE = 'berth-base/python:3.11-bookworm';

/** Runs a command on a test server with the system ssh (independent of Berth's own SSH code). */
export function onServer(bed: Bed, index: number, command: string, timeoutMs = 60_000): string {
  const result = spawnSync('ssh', ['-F', bed.sshConfig, bed.servers[index].name, command], { timeout: timeoutMs, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${bed.servers[index].name}: ${command} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** The base image on every test server (idempotent; serialized by tb.sh's lock). */
export function ensureBaseImage(): void {
  execFileSync('bash', ['test/bed/tb.sh', 'load-image', BASE_IMAGE], { stdio: 'pipe', timeout: 900_000, env: { ...process.env, TB: bedDir } });
}

/** A Berth on a fresh data folder with the test servers registered (and in one group). */
export async function berthWithServers(count = 3, options: Partial<Parameters<typeof createBerth>[0]> = {}) {
  const bed = loadBed();
  const home = mkdtempSync(join(tmpdir(), 'berth-obs-'));
  const berth = createBerth({ home, mode: 'cli', version: 'test', ...options });
  const ids: number[] = [];
  for (const server of bed.servers.slice(0, count)) {
    const added = await call(berth, 'servers.add', {
      name: server.name,
      host: server.host,
      port: 22,
      username: 'root',
      auth: { type: 'keyFile', path: bed.clientKey },
      hostKeyFingerprint: server.hostKeyFingerprint,
    });
    ids.push(added.id);
  }
  return { bed, berth, home, ids };
}

export async function call(berth: Berth, name: string, input: unknown): Promise<any> {
  const result = await berth.dispatcher.call(name, input);
  if (!result.ok) throw Object.assign(new Error(`${name}: ${result.error.message}`), result.error);
  return result.value;
}

export interface ContainerSpec {
  name: string;
  model: string;
  version: number;
  replica: number;
  port?: number;
  script: string;
  extra?: string;
  env?: Record<string, string>;
}

/** Starts a Berth-named, Berth-labelled container running a Python script; returns its id. */
export function runContainer(bed: Bed, index: number, spec: ContainerSpec): string {
  const env = Object.entries(spec.env ?? {}).map(([k, v]) => `-e ${k}=${shellQuote(v)}`).join(' ');
  const labels = [`berth.model=${spec.model}`, `berth.version=${spec.version}`, `berth.replica=${spec.replica}`, ...(spec.port ? [`berth.port=${spec.port}`] : [])]
    .map((l) => `--label ${l}`)
    .join(' ');
  const command =
    `docker rm -f ${spec.name} >/dev/null 2>&1; docker run -d --name ${spec.name} ${labels} ${env} ${spec.extra ?? '--network none'} ` +
    `--log-driver json-file --log-opt max-size=20m --log-opt max-file=3 ${BASE_IMAGE} python3 -u -c ${shellQuote(spec.script)}`;
  return onServer(bed, index, command).trim();
}

export function removeContainers(bed: Bed, prefix: string): void {
  for (let i = 0; i < bed.servers.length; i++) {
    try {
      onServer(bed, i, `ids=$(docker ps -aq --filter name=${prefix}); [ -z "$ids" ] || docker rm -f $ids >/dev/null`, 60_000);
    } catch {
      // a crashed server is restored by its test; nothing to clean there
    }
  }
}

/** Subscribes through the dispatcher (the contract boundary), collecting events until cancelled. */
export function subscribe(berth: Berth, name: string, input: unknown) {
  const events: Array<{ at: number; event: any }> = [];
  let ended: { error?: unknown } | null = null;
  const cancel = berth.dispatcher.subscribe(
    name,
    input,
    (event) => events.push({ at: Date.now(), event }),
    (error) => (ended = { error }),
  );
  return {
    events,
    cancel,
    get ended() {
      return ended;
    },
  };
}

export async function until<T>(check: () => T | undefined | false | null, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
};

export interface ServingSpec {
  name: string;
  model: string;
  version: number;
  replica: number;
  port: number;
  /** Python source of berth_model.py (a `predict(inputs)` function). */
  module: string;
  /** Extra `docker run` flags (restart policy, memory limit). */
  extra?: string;
}

/** Runs the real serving wrapper (resources/serving/berth_serve.py) with a small model module, the way Berth names and labels replicas. */
const servingDirs: string[] = [];

/** Removes the folders runServing mounted into containers (after the containers are gone). */
export function removeServingDirs(): void {
  for (const dir of servingDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function runServing(bed: Bed, index: number, spec: ServingSpec): string {
  const dir = mkdtempSync(join(tmpdir(), `${spec.name}-`));
  servingDirs.push(dir);
  copyFileSync(join(__dirname, '../../../resources/serving/berth_serve.py'), join(dir, 'berth_serve.py'));
  writeFileSync(join(dir, 'berth_model.py'), spec.module);
  chmodSync(dir, 0o755);
  const labels = [`berth.model=${spec.model}`, `berth.version=${spec.version}`, `berth.replica=${spec.replica}`, `berth.port=${spec.port}`];
  const command =
    `docker rm -f ${spec.name} >/dev/null 2>&1; docker run -d --name ${spec.name} ${labels.map((l) => `--label ${l}`).join(' ')} ` +
    `--network host -e PORT=${spec.port} -e BERTH_HOST=127.0.0.1 -e BERTH_MODEL_NAME=${spec.model} -e BERTH_MODEL_VERSION=${spec.version} ` +
    `-v ${dir}:/app:ro -w /app --log-driver json-file --log-opt max-size=20m --log-opt max-file=3 ${spec.extra ?? ''} ` +
    `${BASE_IMAGE} python3 -u berth_serve.py`;
  return onServer(bed, index, command).trim();
}

/** POSTs to a replica from inside the server (replica ports are loopback-only); returns the HTTP status. */
export function predict(bed: Bed, index: number, port: number, body: unknown, requestId: string, caller = 'key_test'): number {
  const out = onServer(
    bed,
    index,
    `curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H ${shellQuote(`X-Request-Id: ${requestId}`)} ` +
      `-H ${shellQuote(`X-Berth-Caller: ${caller}`)} --data ${shellQuote(JSON.stringify(body))} http://127.0.0.1:${port}/predict || true`,
  );
  return Number(out.trim()) || 0;
}

export async function waitReady(bed: Bed, index: number, port: number, timeoutMs = 60_000): Promise<void> {
  await until(
    () => onServer(bed, index, `curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/readyz || true`).trim() === '200',
    timeoutMs,
    `the replica on port ${port} to be ready`,
  );
}

/** Appends text to a file on a test server (through ssh's stdin). */
export function appendOnServer(bed: Bed, index: number, path: string, text: string): void {
  const result = spawnSync('ssh', ['-F', bed.sshConfig, bed.servers[index].name, `mkdir -p "$(dirname ${shellQuote(path)})" && cat >> ${shellQuote(path)}`], {
    input: text,
    timeout: 30_000,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`append to ${path} on ${bed.servers[index].name} failed: ${result.stderr}`);
}

/** A gateway request-log line exactly as resources/gateway/reqlog.go writes it. */
export function gatewayLine(seq: number, requestId: string, over: Record<string, unknown> = {}): string {
  return (
    JSON.stringify({
      seq,
      ts: new Date().toISOString(),
      request_id: requestId,
      model: 'obsinf',
      version: '1',
      alias: 'latest',
      caller: 'key_a',
      method: 'POST',
      path: '/predict',
      status: 200,
      latency_ms: 4.2,
      upstream: '127.0.0.1:19410',
      bytes_in: 20,
      bytes_out: 40,
      ...over,
    }) + '\n'
  );
}
