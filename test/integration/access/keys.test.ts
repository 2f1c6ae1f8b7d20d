import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishReport } from '../../../shared/access';
import { sha256Hex } from '../../../electron/main/services/access/keys';
import { bed, createTestBerth, testLayout, type TestBerth } from './helpers';

/**
 * Keys end to end: the key table, the routes.json every server gets, and the real gateway (resources/gateway, built
 * here and run on loopback) accepting, refusing and — after a revoke — dropping a key.
 */
const layout = testLayout('keys');
const work = mkdtempSync(join(tmpdir(), 'berth-keys-gw-'));
const localRoutes = join(work, 'routes.json');
let berth: TestBerth;
let upstream: Server;
let upstreamPort = 0;
let gateway: ChildProcess | undefined;
let gatewayUrl = '';
let revision = 0;
/** When the gateway's routes.json was last replaced (performance.now()). */
let lastWriteAt = 0;

/**
 * Stands in for the deploy orchestrator's publisher: writes routes.json (one model, the access keys) atomically on
 * every server, and locally for the gateway under test.
 */
async function publish(): Promise<PublishReport> {
  const models = Object.fromEntries(
    berth.access.models().map((m) => [m.name, { public: m.public, versions: { '1': { replicas: [`127.0.0.1:${upstreamPort}`] }, '2': { replicas: [`127.0.0.1:${upstreamPort}`] } }, aliases: { latest: '2' } }]),
  );
  const routes = JSON.stringify({ revision: ++revision, models, keys: berth.access.keysForRoutes() });
  writeFileSync(`${localRoutes}.tmp`, routes);
  renameSync(`${localRoutes}.tmp`, localRoutes);
  lastWriteAt = performance.now();
  const dir = `${layout.berthDir}/gateway`;
  const servers = await Promise.all(
    berth.registry.list().map(async (s) => {
      const result = await berth.root(s.name, `mkdir -p ${dir} && cat > ${dir}/.routes.tmp && mv -f ${dir}/.routes.tmp ${dir}/routes.json`, routes);
      return { serverId: s.id, server: s.name, ok: result.code === 0, ...(result.code ? { error: result.stderr } : {}), revision };
    }),
  );
  return { servers };
}

const serverRoutes = async (name: string) => JSON.parse((await berth.root(name, `cat ${layout.berthDir}/gateway/routes.json`)).stdout.toString());

async function ask(path: string, secret?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gatewayUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: '{"rows":[[1,2,3,4]]}',
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeAll(async () => {
  berth = createTestBerth(layout);
  await berth.addServers();
  berth.db.prepare("INSERT INTO models (name, created_at) VALUES ('iris', 't'), ('churn', 't')").run();
  berth.access.setPublisher(publish);

  upstream = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, caller: req.headers['x-berth-caller'] ?? null }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  await publish();

  // The real gateway, built from resources/gateway (the Go build cache makes this fast after the first time).
  const gatewaySource = resolve(__dirname, '../../../resources/gateway');
  const binary = join(work, 'gateway');
  execFileSync('go', ['build', '-o', binary, '.'], {
    cwd: gatewaySource,
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '-trimpath' },
    stdio: 'pipe',
    timeout: 240_000,
  });
  const port = 20_000 + (process.pid % 10_000);
  mkdirSync(join(work, 'logs'));
  gateway = spawn(binary, ['-listen', `127.0.0.1:${port}`, '-config', localRoutes, '-log-dir', join(work, 'logs')], { stdio: 'ignore' });
  gatewayUrl = `http://127.0.0.1:${port}`;
  await waitFor('gateway up', () => fetch(`${gatewayUrl}/_berth/health`).then((r) => r.status, () => 0), (s) => s === 200);
});

afterAll(async () => {
  gateway?.kill('SIGTERM');
  upstream?.close();
  if (!berth) return;
  try {
    for (const s of bed.servers) await berth.root(s.name, `rm -rf ${layout.base}`);
  } finally {
    berth.close();
  }
});

describe('API keys at the gateway', () => {
  it('a model is private: no key, no call', async () => {
    await waitFor(
      'replica healthy',
      () => fetch(`${gatewayUrl}/_berth/health`).then((r) => r.json() as Promise<any>),
      (h) => h.models?.iris?.versions?.['1']?.healthy === 1,
    );
    const anonymous = await ask('/iris/v1/predict');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.message).toMatch(/needs an API key/);
  });

  let secret = '';
  let keyId = '';
  it('creates a key whose secret is shown once and stored nowhere, and publishes its hash to every server', async () => {
    const created = await berth.access.createKey({ name: 'billing-service', scope: { kind: 'model', model: 'iris' } });
    ({ secret } = created);
    keyId = created.key.id;
    expect(secret).toMatch(/^brt_[0-9A-Za-z]{40}$/);
    expect(created.publish.servers.map((s) => `${s.server}:${s.ok}`)).toEqual(['tb1:true', 'tb2:true', 'tb3:true']);
    for (const s of bed.servers) {
      const routes = await serverRoutes(s.name);
      expect(routes.keys).toEqual([{ id: keyId, sha256: sha256Hex(secret), models: ['iris'], versions: null, expiresAt: null }]);
      expect(JSON.stringify(routes)).not.toContain(secret);
    }
    berth.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(join(berth.home, 'berth.db')).toString('latin1')).not.toContain(secret);
    expect(berth.access.listKeys()[0]).not.toHaveProperty('secret');
    const [audited] = berth.audit.list({ action: 'key.create' });
    expect(audited).toMatchObject({ target: keyId, result: 'ok', details: { name: 'billing-service', published: ['tb1:ok', 'tb2:ok', 'tb3:ok'] } });
    expect(JSON.stringify(audited)).not.toContain(secret);
  });

  it('the gateway lets the key call its model, as itself, and nothing else', async () => {
    const ok = await waitFor('key accepted', () => ask('/iris/v1/predict', secret), (r) => r.status === 200);
    expect(ok.body).toEqual({ path: '/predict', caller: keyId });
    expect((await ask('/iris/latest/predict', secret)).status).toBe(200);
    const other = await ask('/churn/v1/predict', secret);
    expect(other.status).toBe(403);
    expect(other.body.error.message).toBe(`The API key ${keyId} may not call model "churn".`);
    expect((await ask('/iris/v1/predict', `${secret}x`)).status).toBe(401);
  });

  it('limits a key to some versions of a model', async () => {
    const { secret: v2only } = await berth.access.createKey({ name: 'canary', scope: { kind: 'versions', model: 'iris', versions: ['2'] } });
    await waitFor('v2 key accepted', () => ask('/iris/v2/predict', v2only), (r) => r.status === 200);
    expect((await ask('/iris/latest/predict', v2only)).status).toBe(200);
    const v1 = await ask('/iris/v1/predict', v2only);
    expect(v1.status).toBe(403);
    expect(v1.body.error.message).toMatch(/may not call version 1 of model "iris"/);
  });

  it('expires a key at its expiry time', async () => {
    const expiresAt = new Date(Date.now() + 2500).toISOString();
    const { secret: shortLived, key } = await berth.access.createKey({ name: 'short', scope: { kind: 'all' }, expiresAt });
    await waitFor('short key accepted', () => ask('/churn/v1/predict', shortLived), (r) => r.status === 200);
    const expired = await waitFor('key expired', () => ask('/churn/v1/predict', shortLived), (r) => r.status === 401, 8000);
    expect(expired.body.error.kind).toBe('KeyExpired');
    expect(berth.access.listKeys().find((k) => k.id === key.id)!.state).toBe('expired');
    expect(berth.access.keysForRoutes().map((k) => k.id)).not.toContain(key.id);
  });

  it('a revoked key stops working at the gateway right after the revoke returns', async () => {
    expect((await ask('/iris/v1/predict', secret)).status).toBe(200);
    // Ask continuously while revoking, so the first refusal is seen when it happens, not when revoke() returns.
    let polling = true;
    const firstRefusal = (async () => {
      while (polling) {
        const answer = await ask('/iris/v1/predict', secret);
        if (answer.status === 401) return { at: performance.now(), answer };
        await new Promise((r) => setTimeout(r, 2));
      }
      return null;
    })();
    const started = performance.now();
    const revoked = await berth.access.revokeKey(keyId);
    const revokeMs = performance.now() - started;
    expect(revoked.key.state).toBe('revoked');
    expect(revoked.publish.servers.every((s) => s.ok)).toBe(true);
    const refusal = await Promise.race([firstRefusal, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    polling = false;
    expect(refusal, 'the revoked key still works 5 s after revoke() returned').not.toBeNull();
    expect(refusal!.answer.body.error.message).toBe('The API key is not valid (unknown or revoked).');
    const reloadMs = refusal!.at - lastWriteAt;
    console.log(
      `revocation: revoke() incl. publishing routes.json to 3 servers took ${revokeMs.toFixed(0)} ms; ` +
        `the gateway refused the key ${reloadMs.toFixed(0)} ms after its routes.json was replaced ` +
        `(${(refusal!.at - started).toFixed(0)} ms after revoke() was called)`,
    );
    expect(reloadMs).toBeLessThan(1000);
    for (const s of bed.servers) expect((await serverRoutes(s.name)).keys.map((k: { id: string }) => k.id)).not.toContain(keyId);
    expect(berth.audit.list({ action: 'key.revoke' })[0]).toMatchObject({ target: keyId, actor: 'tester' });
  });

  it('makes a model public only when asked', async () => {
    const result = await berth.access.setPublic('churn', true);
    expect(result.publish.servers.every((s) => s.ok)).toBe(true);
    const open = await waitFor('public model', () => ask('/churn/v1/predict'), (r) => r.status === 200);
    expect(open.body.caller).toBe('public');
    expect((await ask('/iris/v1/predict')).status).toBe(401);
    for (const s of bed.servers) expect((await serverRoutes(s.name)).models.churn.public).toBe(true);
    expect(berth.audit.list({ action: 'model.public' })[0]).toMatchObject({ target: 'churn', details: { from: false, to: true } });
  });
});
