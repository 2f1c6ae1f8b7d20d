import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKeyStore, generateSecret, scopeToRoute, sha256Hex } from '../../../electron/main/services/access/keys';
import { openDatabase } from '../../../electron/main/services/store/database';

function setup(start = new Date('2030-01-01T00:00:00Z')) {
  const file = join(mkdtempSync(join(tmpdir(), 'berth-keys-')), 'berth.db');
  const db = openDatabase(file);
  let clock = start;
  const keys = createKeyStore({ db, now: () => clock });
  db.prepare("INSERT INTO models (name, created_at) VALUES ('iris', 't'), ('churn', 't')").run();
  return { db, file, keys, advance: (ms: number) => (clock = new Date(clock.getTime() + ms)) };
}

describe('API keys', () => {
  it('makes secrets of brt_ + 40 base62 characters, never the same twice', () => {
    const secrets = new Set(Array.from({ length: 2000 }, generateSecret));
    expect(secrets.size).toBe(2000);
    for (const s of secrets) expect(s).toMatch(/^brt_[0-9A-Za-z]{40}$/);
    // every base62 character shows up: the alphabet is not truncated
    expect(new Set([...secrets].map((s) => s.slice(4)).join(''))).toHaveLength(62);
  });

  it('stores only the sha256 of a secret: the secret is nowhere in the database file', () => {
    const { db, file, keys } = setup();
    const { key, secret } = keys.create({ name: 'billing', scope: { kind: 'all' } }, 'alice');
    db.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = readFileSync(file).toString('latin1');
    expect(bytes).not.toContain(secret);
    expect(bytes).not.toContain(secret.slice(4, 24));
    expect(bytes).toContain(sha256Hex(secret));
    expect(key).toMatchObject({ name: 'billing', state: 'active', createdBy: 'alice', requests: 0, expiresAt: null });
    expect(key.id).toMatch(/^key_[0-9a-f]{12}$/);
  });

  it('maps scopes to the gateway table: all models, one model, some versions', () => {
    expect(scopeToRoute({ kind: 'all' })).toEqual({ models: null, versions: null });
    expect(scopeToRoute({ kind: 'model', model: 'iris' })).toEqual({ models: ['iris'], versions: null });
    expect(scopeToRoute({ kind: 'versions', model: 'iris', versions: ['1', '3'] })).toEqual({ models: ['iris'], versions: { iris: ['1', '3'] } });
  });

  it('publishes only active keys: revoked and expired ones leave routes.json', () => {
    const { keys, advance } = setup();
    const a = keys.create({ name: 'a', scope: { kind: 'model', model: 'iris' } }, 'alice');
    const b = keys.create({ name: 'b', scope: { kind: 'versions', model: 'churn', versions: ['2'] }, expiresAt: '2030-01-02T00:00:00Z' }, 'alice');
    const c = keys.create({ name: 'c', scope: { kind: 'all' } }, 'alice');
    expect(keys.keysForRoutes().map((k) => k.id).sort()).toEqual([a.key.id, b.key.id, c.key.id].sort());
    expect(keys.keysForRoutes().find((k) => k.id === b.key.id)).toEqual({
      id: b.key.id,
      sha256: sha256Hex(b.secret),
      models: ['churn'],
      versions: { churn: ['2'] },
      expiresAt: '2030-01-02T00:00:00.000Z',
    });
    keys.revoke(c.key.id, 'bob');
    advance(2 * 86_400_000);
    expect(keys.keysForRoutes().map((k) => k.id)).toEqual([a.key.id]);
    const states = Object.fromEntries(keys.list().map((k) => [k.name, k.state]));
    expect(states).toEqual({ a: 'active', b: 'expired', c: 'revoked' });
    expect(keys.get(c.key.id)).toMatchObject({ revokedBy: 'bob' });
  });

  it('refuses what would surprise: unknown model, past expiry, double revoke', () => {
    const { keys } = setup();
    expect(() => keys.create({ name: 'x', scope: { kind: 'model', model: 'nope' } }, 'a')).toThrow(/No model named "nope".*models: churn, iris/);
    expect(() => keys.create({ name: 'x', scope: { kind: 'all' }, expiresAt: '2029-12-31T00:00:00Z' }, 'a')).toThrow(/in the past/);
    expect(() => keys.create({ name: '', scope: { kind: 'all' } }, 'a')).toThrow(/Name the key/);
    const { key } = keys.create({ name: 'x', scope: { kind: 'all' } }, 'a');
    keys.revoke(key.id, 'a');
    expect(() => keys.revoke(key.id, 'a')).toThrow(/already revoked/);
    expect(() => keys.revoke('key_000000', 'a')).toThrow(/no API key/);
  });

  it('shows request counts given by the logs service, or a live source when wired', () => {
    const { db, keys } = setup();
    const { key } = keys.create({ name: 'x', scope: { kind: 'all' } }, 'a');
    expect(keys.setUsage([{ keyId: key.id, requests: 42, lastUsedAt: '2030-01-01T00:00:01Z' }, { keyId: 'key_gone', requests: 1, lastUsedAt: null }])).toBe(1);
    expect(keys.get(key.id)).toMatchObject({ requests: 42, lastUsedAt: '2030-01-01T00:00:01Z' });
    const live = createKeyStore({ db, usage: () => [{ keyId: key.id, requests: 7, lastUsedAt: null }] });
    expect(live.list()[0].requests).toBe(7);
    const broken = createKeyStore({ db, usage: () => { throw new Error('logs not ready'); } });
    expect(broken.list()[0].requests).toBe(42);
  });

  it('makes a model public only when asked, and lists models with versions', () => {
    const { db, keys } = setup();
    expect(keys.models()).toEqual([
      { name: 'churn', public: false, versions: [] },
      { name: 'iris', public: false, versions: [] },
    ]);
    expect(keys.setPublic('iris', true)).toBe(false);
    expect(db.prepare("SELECT public FROM models WHERE name = 'iris'").get()).toEqual({ public: 1 });
    expect(() => keys.setPublic('nope', true)).toThrow(/No model named/);
  });
});

describe('request counts from the inference log', () => {
  it('counts requests per key from the logs service table (inference_requests), and nothing without it', async () => {
    const Database = (await import('better-sqlite3')).default;
    const { usageFromInferenceLog } = await import('../../../electron/main/services/access/keys');
    expect(usageFromInferenceLog(new Database(':memory:'))).toEqual([]);
    const db = openDatabase(':memory:');
    const insert = db.prepare('INSERT INTO inference_requests (server_id, server_name, request_id, ts_ms, caller) VALUES (1, ?, ?, ?, ?)');
    const rows: [string, string, string | null][] = [
      ['tb1', '2030-01-01T00:00:00Z', 'key_aa'],
      ['tb2', '2030-01-01T00:00:05Z', 'key_aa'],
      ['tb1', '2030-01-01T00:00:01Z', 'key_bb'],
      ['tb1', '2030-01-01T00:00:09Z', 'public'],
      ['tb1', '2030-01-01T00:00:09Z', 'keyless'],
      ['tb1', '2030-01-01T00:00:09Z', null],
    ];
    rows.forEach(([server, at, caller], i) => insert.run(server, `r${i}`, Date.parse(at), caller));
    expect(usageFromInferenceLog(db).sort((a, b) => a.keyId.localeCompare(b.keyId))).toEqual([
      { keyId: 'key_aa', requests: 2, lastUsedAt: '2030-01-01T00:00:05.000Z' },
      { keyId: 'key_bb', requests: 1, lastUsedAt: '2030-01-01T00:00:01.000Z' },
    ]);
  });
});
