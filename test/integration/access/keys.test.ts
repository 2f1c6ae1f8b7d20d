import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupState, StateModel } from '../../../shared/group-state';
import { sha256Hex } from '../../../electron/main/services/access/keys';
import { bed, createTestBerth, GROUP, testLayout, type TestBerth } from './helpers';

/**
 * Keys end to end on the group state: a key is a change of the group's state on every server, each server derives
 * its gateway table (routes.json) from it, and the real gateway (resources/gateway, built here and run on
 * loopback against a copy of tb1's derived table) accepts, refuses and — after a revoke — drops the key.
 */
const layout = testLayout('keys');
const work = mkdtempSync(join(tmpdir(), 'berth-keys-gw-'));
const localRoutes = join(work, 'routes.json');
let berth: TestBerth;
let other: TestBerth | undefined;
let upstream: Server;
let upstreamPort = 0;
let gateway: ChildProcess | undefined;
let gatewayUrl = '';
/** When the local gateway's routes.json was last replaced (performance.now()). */
let lastWriteAt = 0;

/**
 * Two models whose versions 1 and 2 are live on every server of the group, each "replica" being the local
 * upstream: nothing is deployed, the state says where the replicas are and each server's table follows from it.
 */
function seedModels(state: GroupState) {
  const at = new Date().toISOString();
  const model = (name: string): StateModel => ({
    public: false,
    keepVersions: 5,
    createdBy: 'tester',
    createdAt: at,
    aliases: { latest: 2 },
    versions: [1, 2].map((number) => ({
      number,
      imageRef: `berth/${name}:v${number}`,
      imageId: `sha256:${sha256Hex(`${name} v${number}`)}`,
      notebookHash: null,
      dockerfile: null,
      requirements: null,
      createdBy: 'tester',
      createdAt: at,
      state: 'live' as const,
      resources: { replicas: 1, memoryMb: 64, cpus: 0.5 },
      placements: Object.fromEntries(state.servers.map((s) => [s.uid, [{ name: `berth-${name}-v${number}-r0`, port: upstreamPort }]])),
    })),
  });
  state.models.iris = model('iris');
  state.models.churn = model('churn');
}

/** Copies tb1's derived routes.json to the local gateway's, atomically, as the gateway on tb1 would read it. */
async function serveTb1Table(): Promise<void> {
  const table = JSON.stringify(await berth.routes('tb1'));
  writeFileSync(`${localRoutes}.tmp`, table);
  renameSync(`${localRoutes}.tmp`, localRoutes);
  lastWriteAt = performance.now();
}

const serverRoutes = (name: string) => berth.routes(name);

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
  upstream = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, caller: req.headers['x-berth-caller'] ?? null }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;

  berth = createTestBerth(layout);
  await berth.addServers();
  await berth.createGroup();
  await berth.groups.change(GROUP, 'test models iris and churn', seedModels);
  await serveTb1Table();

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
    other?.close();
  }
});

describe('API keys at the gateway', () => {
  it('derives every server’s table from the group state: the models, no keys, nothing public', async () => {
    for (const s of bed.servers) {
      const routes = await serverRoutes(s.name);
      expect(Object.keys(routes.models).sort()).toEqual(['churn', 'iris']);
      expect(routes.models.iris).toEqual({
        public: false,
        versions: { '1': { replicas: [`127.0.0.1:${upstreamPort}`] }, '2': { replicas: [`127.0.0.1:${upstreamPort}`] } },
        aliases: { latest: '2' },
      });
      expect(routes.keys).toEqual([]);
    }
  });

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
  it('creates a key whose secret is shown once and stored nowhere, and puts its hash in every server’s table', async () => {
    const created = await berth.access.createKey({ name: 'billing-service', scope: { kind: 'model', model: 'iris' } });
    ({ secret } = created);
    keyId = created.key.id;
    expect(secret).toMatch(/^brt_[0-9A-Za-z]{40}$/);
    expect(created.key).toMatchObject({ group: GROUP, name: 'billing-service', state: 'active', createdBy: 'tester' });
    expect(created.publish.servers.map((s) => `${s.server}:${s.ok}`)).toEqual(['tb1:true', 'tb2:true', 'tb3:true']);
    for (const s of bed.servers) {
      const routes = await serverRoutes(s.name);
      expect(routes.keys).toEqual([{ id: keyId, sha256: sha256Hex(secret), models: ['iris'], versions: null, expiresAt: null }]);
      expect(JSON.stringify(routes)).not.toContain(secret);
      // The group state holds the key's hash, scope and author; never its secret.
      const state = (await berth.root(s.name, `cat ${layout.berthDir}/groups/${GROUP}/state.json`)).stdout.toString();
      expect(JSON.parse(state).revision.state.keys).toEqual([
        expect.objectContaining({ id: keyId, name: 'billing-service', sha256: sha256Hex(secret), scope: { kind: 'model', model: 'iris' }, createdBy: 'tester', revokedAt: null }),
      ]);
      expect(state).not.toContain(secret);
    }
    await serveTb1Table();
    berth.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(join(berth.home, 'berth.db')).toString('latin1')).not.toContain(secret);
    expect(berth.access.listKeys()[0]).not.toHaveProperty('secret');
    const [audited] = berth.audit.list({ action: 'key.create' });
    expect(audited).toMatchObject({ target: keyId, result: 'ok', details: { name: 'billing-service', group: GROUP, published: ['tb1:ok', 'tb2:ok', 'tb3:ok'] } });
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

  it('refuses a key for a model the group does not hold, naming the models it does', async () => {
    await expect(berth.access.createKey({ name: 'x', scope: { kind: 'model', model: 'nope' } })).rejects.toThrow(/No model named "nope".*\(models: churn, iris\)/);
    await expect(berth.access.createKey({ name: 'x', scope: { kind: 'all' }, group: 'elsewhere' })).rejects.toThrow(/no server group "elsewhere"/);
  });

  it('limits a key to some versions of a model', async () => {
    const { secret: v2only } = await berth.access.createKey({ name: 'canary', scope: { kind: 'versions', model: 'iris', versions: ['2'] } });
    await serveTb1Table();
    await waitFor('v2 key accepted', () => ask('/iris/v2/predict', v2only), (r) => r.status === 200);
    expect((await ask('/iris/latest/predict', v2only)).status).toBe(200);
    const v1 = await ask('/iris/v1/predict', v2only);
    expect(v1.status).toBe(403);
    expect(v1.body.error.message).toMatch(/may not call version 1 of model "iris"/);
  });

  it('expires a key at its expiry time, and leaves it out of the next table derived', async () => {
    const expiresAt = new Date(Date.now() + 5000).toISOString();
    const { secret: shortLived, key } = await berth.access.createKey({ name: 'short', scope: { kind: 'all' }, expiresAt });
    // A key for all models is one for all of its group's models.
    expect((await serverRoutes('tb2')).keys.find((k: { id: string }) => k.id === key.id)).toMatchObject({ models: ['churn', 'iris'], versions: null });
    await serveTb1Table();
    await waitFor('short key accepted', () => ask('/churn/v1/predict', shortLived), (r) => r.status === 200);
    const expired = await waitFor('key expired', () => ask('/churn/v1/predict', shortLived), (r) => r.status === 401, 10_000);
    expect(expired.body.error.kind).toBe('KeyExpired');
    expect(berth.access.listKeys().find((k) => k.id === key.id)!.state).toBe('expired');
    await berth.groups.change(GROUP, 'derive again', () => undefined);
    for (const s of bed.servers) expect((await serverRoutes(s.name)).keys.map((k: { id: string }) => k.id)).not.toContain(key.id);
  });

  it('a revoked key stops working at the gateway right after the revoke returns', async () => {
    expect((await ask('/iris/v1/predict', secret)).status).toBe(200);
    // Ask continuously while revoking, so the first refusal is seen when it happens, not when the test looks.
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
    expect(revoked.key).toMatchObject({ state: 'revoked', revokedBy: 'tester' });
    expect(revoked.publish.servers.map((s) => `${s.server}:${s.ok}`)).toEqual(['tb1:true', 'tb2:true', 'tb3:true']);
    expect(revoked.publish.note).toBeUndefined();
    // Every server's table had dropped the key when revoke() returned; the local gateway now reads tb1's.
    for (const s of bed.servers) expect((await serverRoutes(s.name)).keys.map((k: { id: string }) => k.id)).not.toContain(keyId);
    await serveTb1Table();
    const refusal = await Promise.race([firstRefusal, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    polling = false;
    expect(refusal, 'the revoked key still works 5 s after its server’s table dropped it').not.toBeNull();
    expect(refusal!.answer.body.error.message).toBe('The API key is not valid (unknown or revoked).');
    const reloadMs = refusal!.at - lastWriteAt;
    console.log(
      `revocation: revoke() incl. the revocation and a new revision on 3 servers took ${revokeMs.toFixed(0)} ms; ` +
        `the gateway refused the key ${reloadMs.toFixed(0)} ms after its routes.json was replaced ` +
        `(${(refusal!.at - started).toFixed(0)} ms after revoke() was called)`,
    );
    expect(reloadMs).toBeLessThan(1000);
    for (const s of bed.servers) {
      // The revocation is in the grow-only file (no later revision can bring the key back) and in the state.
      const revocations = (await berth.root(s.name, `cat ${layout.berthDir}/groups/${GROUP}/revoked.jsonl`)).stdout.toString();
      expect(revocations).toContain(`"id":"${keyId}"`);
      const state = JSON.parse((await berth.root(s.name, `cat ${layout.berthDir}/groups/${GROUP}/state.json`)).stdout.toString());
      expect(state.revision.state.keys.find((k: { id: string }) => k.id === keyId)).toMatchObject({ revokedBy: 'tester' });
    }
    expect(berth.audit.list({ action: 'key.revoke' })[0]).toMatchObject({ target: keyId, actor: 'tester', result: 'ok', details: { published: ['tb1:ok', 'tb2:ok', 'tb3:ok'] } });
    await expect(berth.access.revokeKey(keyId)).rejects.toThrow(/already revoked/);
  });

  it('makes a model public only when asked', async () => {
    const result = await berth.access.setPublic('churn', true);
    expect(result.publish.servers.every((s) => s.ok)).toBe(true);
    await serveTb1Table();
    const open = await waitFor('public model', () => ask('/churn/v1/predict'), (r) => r.status === 200);
    expect(open.body.caller).toBe('public');
    expect((await ask('/iris/v1/predict')).status).toBe(401);
    for (const s of bed.servers) expect((await serverRoutes(s.name)).models.churn.public).toBe(true);
    expect(berth.access.models().find((m) => m.name === 'churn')).toEqual({ name: 'churn', public: true, versions: ['1', '2'] });
    expect(berth.audit.list({ action: 'model.public' })[0]).toMatchObject({ target: 'churn', details: { from: false, to: true, group: GROUP } });
  });

  it('a second data folder that adds the same servers sees the keys (metadata only), and its own key leaves the first one’s working', async () => {
    other = createTestBerth(layout, { actor: 'bob', machine: 'bob-laptop' });
    await other.addServers();
    const attached = await other.groups.attach();
    expect(attached.problems).toEqual([]);
    const metadata = (keys: ReturnType<TestBerth['access']['listKeys']>) =>
      keys.map(({ id, group, name, scope, expiresAt, createdBy, createdAt, revokedAt, revokedBy, state }) => ({ id, group, name, scope, expiresAt, createdBy, createdAt, revokedAt, revokedBy, state }));
    const seen = other.access.listKeys();
    expect(seen).toHaveLength(3);
    expect(metadata(seen)).toEqual(metadata(berth.access.listKeys()));
    expect(JSON.stringify(seen)).not.toMatch(/brt_|sha256/);
    expect(other.access.models()).toEqual(berth.access.models());

    const canary = berth.access.listKeys().find((k) => k.name === 'canary')!;
    const bobs = await other.access.createKey({ name: 'bob-service', scope: { kind: 'all' } });
    expect(bobs.publish.servers.every((s) => s.ok)).toBe(true);
    for (const s of bed.servers) expect((await serverRoutes(s.name)).keys.map((k: { id: string }) => k.id).sort()).toEqual([bobs.key.id, canary.id].sort());
    await serveTb1Table();
    await waitFor('bob’s key accepted', () => ask('/iris/v1/predict', bobs.secret), (r) => r.status === 200);

    await berth.groups.refresh(GROUP);
    expect(berth.access.listKeys().find((k) => k.id === bobs.key.id)).toMatchObject({ name: 'bob-service', createdBy: 'bob', group: GROUP, state: 'active' });
  });
});
