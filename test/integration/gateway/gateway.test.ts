import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGatewayImage } from '../../../electron/main/services/gateway/image';
import { ensureGateway, gatewayHealth } from '../../../electron/main/services/gateway/install';
import type { GatewayInstance } from '../../../electron/main/services/gateway/remote';
import { keyHash, readRoutes, writeRoutes } from '../../../electron/main/services/gateway/routes';
import { connectSsh, shellQuote, type SshConnection } from '../../../electron/main/services/transport/ssh';
import { GatewayLogLine, type RoutesFileInput } from '../../../shared/gateway';
import { clientKeyOf, loadBed } from '../bed';

const run = promisify(execFile);
const bed = loadBed();
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

const TAG = 'berth/gateway:itest-gateway';
const BUILDER = 'berth-base/go-builder:bookworm';
const PYTHON = 'berth-base/python:3.11-bookworm';
const [TB1, TB2] = bed.servers;
// Its own container, folders and port: other tests on the bed run the real berth-gateway on 8700 at the same time.
// The bed's servers share the host's filesystem (they are network namespaces), so each gets its own folders.
const ITEST_DIR = '/var/lib/berth-itest';
const instanceOf = (server: { name: string }): GatewayInstance => ({
  container: 'berth-gateway-itest',
  dir: `${ITEST_DIR}/${server.name}/gateway`,
  logDir: `${ITEST_DIR}/${server.name}/logs/gateway`,
});
const PORT = 18700;
const GATEWAY = `http://${TB1.host}:${PORT}`;
const REPLICAS = [
  { name: 'gwtest-r1', port: 19181 },
  { name: 'gwtest-r2', port: 19182 },
];
const MODEL = 'gwtest';

// A tiny "model replica": answers /readyz and echoes who it is and what the gateway sent.
const REPLICA_SCRIPT = `
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
NAME, PORT = os.environ["NAME"], int(os.environ["PORT"])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall
    def log_message(self, *a): pass
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        out = {"ready": True} if self.path == "/readyz" else {"name": NAME, "path": self.path, "body": body,
            "version": self.headers.get("X-Berth-Version"), "alias": self.headers.get("X-Berth-Alias"),
            "caller": self.headers.get("X-Berth-Caller"), "auth": self.headers.get("Authorization"),
            "apiKey": self.headers.get("X-Api-Key"), "requestId": self.headers.get("X-Request-Id")}
        b = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    do_GET = do_POST = answer
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("0.0.0.0", PORT), H).serve_forever()
`;

const SECRETS = { all: 'gw-secret-all', v1: 'gw-secret-v1-only', old: 'gw-secret-expired', other: 'gw-secret-other-model' };
let revision = 1000;

function routes(aliases: Record<string, string>, keys = Object.keys(SECRETS) as (keyof typeof SECRETS)[]): RoutesFileInput {
  const all: RoutesFileInput['keys'] = [
    { id: 'key_all', sha256: keyHash(SECRETS.all), models: null, versions: null, expiresAt: null },
    { id: 'key_v1', sha256: keyHash(SECRETS.v1), models: [MODEL], versions: { [MODEL]: ['1'] }, expiresAt: new Date(Date.now() + 3600_000).toISOString() },
    { id: 'key_old', sha256: keyHash(SECRETS.old), models: null, versions: null, expiresAt: new Date(Date.now() - 60_000).toISOString() },
    { id: 'key_other', sha256: keyHash(SECRETS.other), models: ['othermodel'], versions: null, expiresAt: null },
  ];
  const [r1, r2] = REPLICAS.map((r) => `127.0.0.1:${r.port}`);
  return {
    revision: ++revision,
    models: {
      [MODEL]: { public: false, versions: { '1': { replicas: [r1] }, '2': { replicas: [r2] }, '3': { replicas: [r1, r2] } }, aliases },
    },
    keys: all.filter((k) => keys.some((name) => k.id === `key_${name}`)),
  };
}

const ssh: Record<string, SshConnection> = {};

async function sh(command: string, timeoutMs = 300_000) {
  return run('bash', ['-o', 'pipefail', '-c', command], { timeout: timeoutMs, maxBuffer: 16 << 20 });
}
const sshCli = (server: string, command: string) => `ssh -F ${shellQuote(bed.sshConfig)} ${server} ${shellQuote(command)}`;

async function call(path: string, init: RequestInit & { key?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.key) headers.set('Authorization', `Bearer ${init.key}`);
  const response = await fetch(`${GATEWAY}${path}`, { ...init, headers, signal: AbortSignal.timeout(5000) });
  const body = (await response.json()) as any;
  return { status: response.status, headers: response.headers, body };
}

async function waitFor<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (let i = 0; i < 10_000; i++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${limitMs} ms (${String(last ?? '')})`);
}

/** Runs `workers` request loops until stop() and counts outcomes. */
function loop(path: string, key: string, workers = 4) {
  let running = true;
  const stats = {
    ok: 0,
    failed: 0,
    failures: [] as string[],
    failedAt: [] as number[],
    byName: {} as Record<string, number>,
    byVersion: {} as Record<string, number>,
  };
  const done = Promise.all(
    Array.from({ length: workers }, async () => {
      while (running) {
        try {
          const r = await call(path, { method: 'POST', key, body: '{"x":[1,2,3]}', headers: { 'Content-Type': 'application/json' } });
          if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
          stats.ok++;
          stats.byName[r.body.name] = (stats.byName[r.body.name] ?? 0) + 1;
          stats.byVersion[r.body.version] = (stats.byVersion[r.body.version] ?? 0) + 1;
        } catch (err) {
          stats.failed++;
          stats.failedAt.push(performance.now());
          if (stats.failures.length < 5) stats.failures.push(String(err));
        }
      }
    }),
  );
  return {
    stats,
    stop: async () => {
      running = false;
      await done;
      return stats;
    },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function timeSequential(url: string, headers: Record<string, string>, n: number) {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${url}: ${response.status}`);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function cleanupServers() {
  const names = [instanceOf(TB1).container, ...REPLICAS.map((r) => r.name)].join(' ');
  for (const server of [TB1, TB2]) {
    await ssh[server.name]?.exec(`docker rm -f ${names} >/dev/null 2>&1; rm -rf ${ITEST_DIR}; true`, { timeoutMs: 30_000 });
  }
}

/** Logs how long each setup step took, so a slow or stuck bed shows where. */
async function step<T>(what: string, work: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const value = await work();
  console.log(`setup: ${what} in ${Date.now() - t0} ms`);
  return value;
}

beforeAll(async () => {
  if (!(await docker.getImage(BUILDER).inspect().catch(() => null))) {
    throw new Error(`The Go builder image ${BUILDER} is missing: run \`bash test/bed/go-builder-image.sh\` (as root) first`);
  }
  await step('ssh', async () => {
    for (const server of [TB1, TB2]) {
      ssh[server.name] = await connectSsh(
        { host: server.host, port: server.port, username: server.user, privateKey: clientKeyOf(bed) },
        { expectedFingerprint: server.hostKeyFingerprint },
      );
    }
    await cleanupServers();
  });

  const output: string[] = [];
  await step('gateway image build', () =>
    buildGatewayImage(docker, { builderImage: BUILDER, tag: TAG, version: 'itest', onOutput: (text) => output.push(text) }),
  );
  expect(output.join('')).toMatch(/berth-gateway itest/); // the build runs `gateway -version`

  // Moving images is the transport's job; here a plain `docker save | ssh docker load` does.
  await step('gateway image to tb1, tb2', async () => {
    for (const server of [TB1, TB2]) await sh(`docker save ${TAG} | ${sshCli(server.name, 'docker load')}`, 120_000);
  });
  // The replicas' base image is shared bed infrastructure: loaded (if missing) by the bed's own locked command, kept.
  if ((await ssh[TB1.name].exec(`docker image inspect ${PYTHON} >/dev/null 2>&1`)).code !== 0) {
    await step('python base image on the bed', () => sh(`bash test/bed/tb.sh load-image ${PYTHON}`, 600_000));
  }
  await step('replicas started', async () => {
    for (const r of REPLICAS) {
      await ssh[TB1.name].run(
        `docker run -d --name ${r.name} --network host --label berth.test=gateway -e NAME=${r.name} -e PORT=${r.port} ${PYTHON} python3 -c ${shellQuote(REPLICA_SCRIPT)}`,
        { timeoutMs: 60_000 },
      );
    }
    for (const r of REPLICAS) {
      await waitFor(`${r.name} ready`, 20_000, async () => ((await fetch(`http://${TB1.host}:${r.port}/readyz`)).ok ? true : undefined));
    }
  });
}, 900_000);

afterAll(async () => {
  await cleanupServers().catch(() => undefined);
  for (const server of [TB1, TB2]) {
    const conn = ssh[server.name];
    if (!conn) continue;
    await conn.exec(`docker rmi ${TAG} >/dev/null 2>&1; true`, { timeoutMs: 60_000 }).catch(() => undefined);
    conn.close();
  }
  await docker.getImage(TAG).remove().catch(() => undefined);
}, 300_000);

describe('gateway on the test bed', () => {
  it('leaves no build-stage images behind and installs idempotently on two servers', async () => {
    const leftovers = await docker.listImages({ all: true, filters: { label: ['berth.gateway.build-stage'] } });
    expect(leftovers).toEqual([]);
    const image = await docker.getImage(TAG).inspect();
    expect(image.Config.Entrypoint).toEqual(['/gateway']);
    expect(image.Config.Healthcheck?.Test).toEqual(['CMD', '/gateway', '-healthcheck']);
    expect(image.Size).toBeLessThan(20_000_000);

    for (const server of [TB1, TB2]) {
      const first = await ensureGateway(ssh[server.name], { image: TAG, port: PORT, instance: instanceOf(server) });
      expect(first.action).toBe('created');
      const again = await ensureGateway(ssh[server.name], { image: TAG, port: PORT, instance: instanceOf(server) });
      expect(again).toEqual({ ...first, action: 'unchanged' });
      const health = await gatewayHealth(server.host, PORT);
      expect(health).toMatchObject({ status: 'ok', version: 'itest', configError: null });
    }
    // A stopped gateway is started again, not recreated.
    await ssh[TB2.name].run(`docker stop -t 2 ${instanceOf(TB2).container}`);
    expect((await ensureGateway(ssh[TB2.name], { image: TAG, port: PORT, instance: instanceOf(TB2) })).action).toBe('started');
    // Another port means another container.
    expect((await ensureGateway(ssh[TB2.name], { image: TAG, port: PORT + 1, instance: instanceOf(TB2) })).action).toBe('replaced');
    expect((await gatewayHealth(TB2.host, PORT + 1)).status).toBe('ok');
    await expect(gatewayHealth(TB2.host, PORT, 1000)).rejects.toMatchObject({ kind: 'RemoteCommandFailed' });
    expect((await ensureGateway(ssh[TB2.name], { image: TAG, port: PORT, instance: instanceOf(TB2) })).action).toBe('replaced');
  });

  it('routes by version and alias to the replicas, with the gateway headers', async () => {
    const table = routes({ latest: '3', stable: '1' });
    for (const server of [TB1, TB2]) await writeRoutes(ssh[server.name], table, { instance: instanceOf(server) });
    for (const server of [TB1, TB2]) {
      await waitFor(`routes applied on ${server.name}`, 3000, async () =>
        (await gatewayHealth(server.host, PORT)).revision === table.revision ? true : undefined,
      );
    }
    expect(await readRoutes(ssh[TB1.name], instanceOf(TB1))).toMatchObject({ revision: table.revision });

    const v1 = await call(`/${MODEL}/v1/predict?q=1`, { key: SECRETS.all });
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({ name: 'gwtest-r1', path: '/predict?q=1', version: '1', alias: null, caller: 'key_all', auth: null, apiKey: null });
    expect(v1.headers.get('x-berth-version')).toBe('1');
    expect(v1.body.requestId).toBe(v1.headers.get('x-request-id'));

    const v2 = await call(`/${MODEL}/v2/predict`, { headers: { 'X-Api-Key': SECRETS.all, 'X-Request-Id': 'itest-123' } });
    expect(v2.body).toMatchObject({ name: 'gwtest-r2', version: '2', apiKey: null, requestId: 'itest-123' });

    const stable = await call(`/${MODEL}/stable/predict`, { key: SECRETS.all, method: 'POST', body: '{"rows":[[1,2]]}' });
    expect(stable.body).toMatchObject({ name: 'gwtest-r1', version: '1', alias: 'stable', body: '{"rows":[[1,2]]}' });

    const missing = await call(`/${MODEL}/canary/predict`, { key: SECRETS.all });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ kind: 'NotFound', versions: ['1', '2', '3'], aliases: { latest: '3', stable: '1' } });
  });

  it('spreads requests round-robin over a version’s replicas', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 20; i++) {
      const r = await call(`/${MODEL}/latest/predict`, { key: SECRETS.all });
      counts[r.body.name] = (counts[r.body.name] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'gwtest-r1': 10, 'gwtest-r2': 10 });
  });

  it('refuses missing, wrong, expired and out-of-scope keys', async () => {
    const missing = await call(`/${MODEL}/v1/predict`);
    expect([missing.status, missing.body.error.kind]).toEqual([401, 'Unauthorized']);
    const wrong = await call(`/${MODEL}/v1/predict`, { key: 'not-a-key' });
    expect([wrong.status, wrong.body.error.kind]).toEqual([401, 'Unauthorized']);
    const expired = await call(`/${MODEL}/v1/predict`, { key: SECRETS.old });
    expect([expired.status, expired.body.error.kind]).toEqual([401, 'KeyExpired']);
    const otherModel = await call(`/${MODEL}/v1/predict`, { key: SECRETS.other });
    expect([otherModel.status, otherModel.body.error.kind]).toEqual([403, 'Forbidden']);
    const otherVersion = await call(`/${MODEL}/latest/predict`, { key: SECRETS.v1 });
    expect([otherVersion.status, otherVersion.body.error.kind]).toEqual([403, 'Forbidden']);
    const allowed = await call(`/${MODEL}/stable/predict`, { key: SECRETS.v1 });
    expect([allowed.status, allowed.body.caller]).toEqual([200, 'key_v1']);
  });

  it('applies a key revocation within a second', async () => {
    expect((await call(`/${MODEL}/v1/predict`, { key: SECRETS.all })).status).toBe(200);
    const started = performance.now();
    await writeRoutes(ssh[TB1.name], routes({ latest: '3', stable: '1' }, ['v1', 'old', 'other']), { instance: instanceOf(TB1) });
    const written = performance.now();
    const refusedAt = await waitFor('revoked key refused', 3000, async () => {
      const r = await call(`/${MODEL}/v1/predict`, { key: SECRETS.all });
      return r.status === 401 ? performance.now() : undefined;
    });
    const delay = refusedAt - written;
    console.log(`revocation: first 401 ${delay.toFixed(0)} ms after routes.json was replaced (${(refusedAt - started).toFixed(0)} ms after the write began over SSH)`);
    expect(delay).toBeLessThan(1000);
    // Other servers keep their own table until Berth writes theirs.
    expect((await gatewayHealth(TB2.host, PORT)).keys).toBe(4);
    await writeRoutes(ssh[TB1.name], routes({ latest: '3', stable: '1' }), { instance: instanceOf(TB1) });
  });

  it('keeps serving through a killed replica', async () => {
    await waitFor('key back', 3000, async () => ((await call(`/${MODEL}/v3/predict`, { key: SECRETS.all })).status === 200 ? true : undefined));
    const workers = 2;
    const traffic = loop(`/${MODEL}/v3/predict`, SECRETS.all, workers);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const killStart = performance.now();
      await ssh[TB1.name].run(`docker kill ${REPLICAS[1].name}`);
      const killEnd = performance.now();
      const okAtKill = traffic.stats.ok;
      await new Promise((r) => setTimeout(r, 1500));
      const stats = await traffic.stop();
      console.log(`replica kill: ${stats.ok} ok (${stats.ok - okAtKill} after the kill), ${stats.failed} failed`, stats.byName, stats.failures);
      // Only a request already sent to the replica when it died may fail (it is not replayed on another replica,
      // so a request that crashes replicas cannot take them all down); every later one goes to the survivor.
      expect(stats.failed).toBeLessThanOrEqual(workers);
      for (const failure of stats.failures) expect(failure).toMatch(/^Error: 502 .*UpstreamError/);
      for (const at of stats.failedAt) expect(at).toBeGreaterThanOrEqual(killStart), expect(at).toBeLessThan(killEnd + 100);
      expect(stats.ok - okAtKill).toBeGreaterThan(20);
      const health = await gatewayHealth(TB1.host, PORT);
      expect(health.models[MODEL].versions['3']).toEqual({ healthy: 1, replicas: 2 });
      expect(health.models[MODEL].versions['2']).toEqual({ healthy: 0, replicas: 1 });
      const down = await call(`/${MODEL}/v2/predict`, { key: SECRETS.all });
      expect([down.status, down.body.error.kind]).toEqual([503, 'NoHealthyReplica']);
    } finally {
      await traffic.stop();
      await ssh[TB1.name].run(`docker start ${REPLICAS[1].name}`);
      await waitFor('replica back in rotation', 10_000, async () =>
        (await gatewayHealth(TB1.host, PORT)).models[MODEL].versions['3'].healthy === 2 ? true : undefined,
      );
    }
  });

  it('moves an alias under a concurrent request loop without a failed request', async () => {
    const traffic = loop(`/${MODEL}/latest/predict`, SECRETS.all, 4);
    for (const target of ['1', '2', '3', '1', '2', '3']) {
      await writeRoutes(ssh[TB1.name], routes({ latest: target, stable: '1' }), { instance: instanceOf(TB1) });
      await new Promise((r) => setTimeout(r, 300));
    }
    const stats = await traffic.stop();
    console.log(`alias moves: ${stats.ok} ok, ${stats.failed} failed`, stats.byVersion);
    expect(stats.failures).toEqual([]);
    expect(stats.ok).toBeGreaterThan(100);
    expect(Object.keys(stats.byVersion).sort()).toEqual(['1', '2', '3']);
  });

  it('logs every request on the server with a growing seq', async () => {
    await new Promise((r) => setTimeout(r, 400)); // > the 200 ms flush interval
    const text = await ssh[TB1.name].run(`tail -n 50 ${instanceOf(TB1).logDir}/requests.jsonl`);
    const lines = text.trim().split('\n').map((line) => GatewayLogLine.parse(JSON.parse(line)));
    expect(lines).toHaveLength(50);
    for (let i = 1; i < lines.length; i++) expect(lines[i].seq).toBe(lines[i - 1].seq + 1);
    expect(lines.at(-1)).toMatchObject({ model: MODEL, version: '3', alias: 'latest', caller: 'key_all', method: 'POST', status: 200 });
  });

  it('adds little latency over calling the replica directly', async () => {
    const direct = `http://${TB1.host}:${REPLICAS[0].port}/predict`;
    const via = `${GATEWAY}/${MODEL}/v1/predict`;
    await timeSequential(direct, {}, 50);
    await timeSequential(via, { Authorization: `Bearer ${SECRETS.all}` }, 50);
    const straight = await timeSequential(direct, {}, 500);
    const gateway = await timeSequential(via, { Authorization: `Bearer ${SECRETS.all}` }, 500);
    console.log(
      `latency, 500 sequential GETs: direct p50 ${straight.p50.toFixed(2)} ms p99 ${straight.p99.toFixed(2)} ms; ` +
        `via gateway p50 ${gateway.p50.toFixed(2)} ms p99 ${gateway.p99.toFixed(2)} ms`,
    );
    expect(gateway.p50).toBeLessThan(straight.p50 + 5);
  });
});
