import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBerth, type Berth } from '../../electron/main/app';
import { bedDir, forgetGroupOnBed, loadBed, type Bed } from '../integration/bed';

/**
 * Shared by the fault suite and the benchmarks: a Berth on a fresh data folder registered with the bed's servers,
 * tiny model images with built-in misbehaviours, an open-loop request generator that records every answer, and
 * the "nothing was lost" checks (what serves, the servers' inference logs, the audit trail).
 */

export const repoRoot = join(__dirname, '../..');
export const BASE_IMAGE = 'berth-base/python:3.11-bookworm';
export const GATEWAY_PORT = 8700;

export { loadBed, type Bed };

/** Request ids carry this run's token: the servers' logs keep lines from earlier runs. */
export const RUN = Date.now().toString(36);
export const tagged = (prefix: string) => `${prefix}-${RUN}`;

/** tb.sh against this suite's own bed (TB is set by test/bed/with-bed.sh). */
export function tb(...args: string[]): string {
  return execFileSync('bash', ['test/bed/tb.sh', ...args], { cwd: repoRoot, encoding: 'utf8', stdio: 'pipe', timeout: 180_000, env: { ...process.env, TB: bedDir } });
}

/** Runs a command on a bed server with the system ssh (independent of Berth's SSH code). */
export function onServer(bed: Bed, index: number, command: string, timeoutMs = 60_000): string {
  for (let attempt = 1; ; attempt++) {
    const result = spawnSync('ssh', ['-F', bed.sshConfig, bed.servers[index].name, command], { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (result.status === 0) return result.stdout;
    // 255: ssh itself failed (e.g. a burst of connections just ended); a few bounded retries, then the error
    if (result.status !== 255 || attempt >= 3) throw new Error(`${bed.servers[index].name}: ${command} failed (${result.status}): ${result.stderr}`);
    spawnSync('sleep', ['1']);
  }
}

export interface ModelImageOptions {
  label: string;
  /** Raise while loading: never ready. */
  failAtLoad?: boolean;
  /** Allocate this many MB while loading (beyond a memory limit: killed before ready). */
  hogAtLoadMb?: number;
  /** Extra incompressible bytes in their own layer, so a transfer lasts long enough to interrupt. */
  ballastMb?: number;
}

/**
 * A tiny model served by Berth's real wrapper. Whatever the version, `"crash"` as input ends the process (exit 3)
 * and `"hog"` allocates until the memory limit kills it; anything else answers `{label}`.
 */
export function buildModelImage(tag: string, options: ModelImageOptions): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-fault-model-'));
  copyFileSync(join(repoRoot, 'resources/serving/berth_serve.py'), join(dir, 'berth_serve.py'));
  writeFileSync(
    join(dir, 'berth_model.py'),
    [
      'import os',
      options.failAtLoad ? 'raise RuntimeError("model file is corrupt (fault test)")' : '',
      options.hogAtLoadMb ? `_hog = [b"\\x01" * (1 << 20) for _ in range(${options.hogAtLoadMb})]` : '',
      `LABEL = ${JSON.stringify(options.label)}`,
      'def predict(inputs):',
      '    if inputs == "crash":',
      '        os._exit(3)',
      '    if inputs == "hog":',
      '        chunks = []',
      '        while True:',
      '            chunks.append(b"\\x01" * (16 << 20))',
      '    return {"label": LABEL}',
      '',
    ].join('\n'),
  );
  const ballast = options.ballastMb ? `RUN head -c ${options.ballastMb}M /dev/urandom > /ballast.bin\n` : '';
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${BASE_IMAGE}\n${ballast}WORKDIR /app\nCOPY berth_serve.py berth_model.py /app/\nCMD ["python3", "berth_serve.py"]\n`);
  execFileSync('docker', ['build', '-q', '-t', tag, dir], { stdio: 'pipe', timeout: 300_000 });
  return tag;
}

export function removeLocalImages(tags: string[]): void {
  for (const tag of tags) spawnSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
}

/** A Berth on a fresh data folder with every bed server registered and in group `prod`. */
export async function berthOnBed(bed: Bed, options: { replicas?: number; home?: string } = {}): Promise<{ berth: Berth; home: string; serverIds: number[]; groupId: number }> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'berth-faults-'));
  const berth = createBerth({ home, mode: 'cli', version: 'faults' });
  berth.services.settings.update({ baseImage: BASE_IMAGE, gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  const serverIds: number[] = [];
  for (const server of bed.servers) {
    const added = await berth.services.servers.add({
      name: server.name,
      host: server.host,
      port: 22,
      username: 'root',
      auth: { type: 'keyFile', path: bed.clientKey },
      hostKeyFingerprint: server.hostKeyFingerprint,
    });
    serverIds.push(added.id);
  }
  forgetGroupOnBed(bed, 'prod');
  const group = berth.services.registry.createGroup('prod', options.replicas ?? 2);
  await berth.services.groups.updateGroup('prod', { serverIds });
  return { berth, home, serverIds, groupId: group.id };
}

/** Removes a model's containers, lock and routes-independent leftovers from every reachable server. */
export function cleanModel(bed: Bed, model: string): void {
  for (let i = 0; i < bed.servers.length; i++) {
    try {
      onServer(bed, i, `ids=$(docker ps -aq --filter label=berth.model=${model}); [ -z "$ids" ] || docker rm -f $ids >/dev/null; rm -rf /var/lib/berth/lock/${model}; true`, 60_000);
    } catch {
      // a server a test crashed is restored by that test
    }
  }
}

export function containersOf(bed: Bed, index: number, model: string): string[] {
  return onServer(bed, index, `docker ps -a --filter label=berth.model=${model} --format '{{.Names}}'`).split('\n').filter(Boolean).sort();
}

export interface Answer {
  server: number;
  requestId: string;
  sentAt: number;
  ms: number;
  status: number;
  version: string | null;
  label?: string;
  error?: string;
}

export interface PredictOptions {
  body?: unknown;
  rawBody?: Buffer;
  headers?: Record<string, string>;
  timeoutMs?: number;
  requestId?: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One POST to /<model>/<path>/predict on a server's gateway; network errors become status 0 with the reason. */
export function predict(bed: Bed, server: number, model: string, path: string, options: PredictOptions = {}): Promise<Answer> {
  const body = options.rawBody ?? Buffer.from(JSON.stringify(options.body ?? { inputs: [1, 2] }));
  const requestId = options.requestId ?? `p-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const sentAt = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: bed.servers[server].host,
        port: GATEWAY_PORT,
        method: 'POST',
        path: `/${model}/${path}/predict`,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-request-id': requestId, ...options.headers },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let label: string | undefined;
          let error: string | undefined;
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString());
            label = parsed?.predictions?.label;
            error = parsed?.error?.kind;
          } catch {
            // not JSON: status says enough
          }
          const version = (res.headers['x-berth-version'] as string | undefined) ?? null;
          resolve({ server, requestId, sentAt, ms: performance.now() - t0, status: res.statusCode ?? 0, version, label, error });
        });
        res.on('error', (err) => resolve({ server, requestId, sentAt, ms: performance.now() - t0, status: 0, version: null, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ server, requestId, sentAt, ms: performance.now() - t0, status: 0, version: null, error: err.message }));
    req.end(body);
  });
}

/**
 * Open-loop load: `rps` requests per second spread round-robin over `servers`, each recorded with its answer.
 * Bounded: stops by itself after `maxSeconds`.
 */
export function startLoad(
  bed: Bed,
  options: { model: string; path?: string; rps: number; servers: number[]; prefix: string; maxSeconds?: number; headers?: Record<string, string> },
) {
  const answers: Answer[] = [];
  const inflight = new Set<Promise<void>>();
  let n = 0;
  let servers = [...options.servers];
  const started = Date.now();
  const intervalMs = 5;
  let due = 0;
  let stopped = false;
  const timer = setInterval(() => {
    if (Date.now() - started > (options.maxSeconds ?? 600) * 1000) stopped = true;
    if (stopped) return;
    due += (options.rps * intervalMs) / 1000;
    while (due >= 1) {
      due -= 1;
      const server = servers[n % servers.length];
      const requestId = `${tagged(options.prefix)}-${n++}`;
      const p = predict(bed, server, options.model, options.path ?? 'latest', { requestId, timeoutMs: 15_000, headers: options.headers }).then((a) => void answers.push(a));
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  }, intervalMs);
  return {
    answers,
    /** Sends to these servers from now on (e.g. leave out one that is about to be crashed). */
    setServers(next: number[]) {
      servers = [...next];
    },
    async stop(): Promise<Answer[]> {
      stopped = true;
      clearInterval(timer);
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 20_000))]);
      return answers.slice().sort((a, b) => a.sentAt - b.sentAt);
    },
  };
}

export const failed = (answers: Answer[]) => answers.filter((a) => a.status !== 200);

/** Request ids of one server's gateway inference log (requests.jsonl and its rotations) with this run's prefix. */
export function loggedRequestIds(bed: Bed, server: number, prefix: string): Map<string, { status: number; version: string | null; error?: string }> {
  const out = onServer(bed, server, `cat $(ls -r /var/lib/berth/logs/gateway/requests.jsonl* 2>/dev/null) 2>/dev/null | grep -F '"${tagged(prefix)}-' || true`, 60_000);
  const ids = new Map<string, { status: number; version: string | null; error?: string }>();
  for (const line of out.split('\n').filter(Boolean)) {
    const entry = JSON.parse(line) as { request_id: string; status: number; version: string | null; error?: string };
    if (ids.has(entry.request_id)) throw new Error(`request ${entry.request_id} logged twice on ${bed.servers[server].name}`);
    ids.set(entry.request_id, { status: entry.status, version: entry.version, error: entry.error });
  }
  return ids;
}

/**
 * Every request a server's gateway answered is in that server's inference log, once, with the status the caller
 * got. Returns the ids that are missing (empty: complete). The gateway flushes every 200 ms: waits a little first.
 */
export async function missingFromLogs(bed: Bed, answers: Answer[], prefix: string): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 600));
  const missing: string[] = [];
  for (const server of new Set(answers.map((a) => a.server))) {
    const logged = loggedRequestIds(bed, server, prefix);
    for (const a of answers.filter((x) => x.server === server && x.status !== 0)) {
      const entry = logged.get(a.requestId);
      if (!entry || entry.status !== a.status) missing.push(`${bed.servers[server].name}:${a.requestId}(${a.status}→${entry?.status ?? 'absent'})`);
    }
  }
  return missing;
}

/** The audit entries for an action/target, once every given server has them (bounded wait). */
export async function auditDelivered(berth: Berth, filter: { action: string; target?: string }, serverNames: string[], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await berth.services.audit.list({ action: filter.action, target: filter.target, limit: 50 });
    const delivered = entries.filter((e) => serverNames.every((name) => e.deliveries.some((d) => d.server === name && d.state === 'delivered')));
    if (delivered.length > 0 || Date.now() > deadline) return { entries, delivered };
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function until<T>(check: () => T | undefined | false | null | Promise<T | undefined | false | null>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Labels served at /<model>/<path> by every listed server. */
export async function labels(bed: Bed, model: string, path: string, servers: number[]): Promise<string[]> {
  return Promise.all(servers.map(async (s) => (await predict(bed, s, model, path)).label ?? 'none'));
}

export const lockHeld = (bed: Bed, server: number, model: string) => onServer(bed, server, `test -e /var/lib/berth/lock/${model} && echo held || echo free`).trim() === 'held';
