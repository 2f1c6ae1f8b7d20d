import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKeyStore, generateSecret, sha256Hex } from '../../../electron/main/services/access/keys';
import { openDatabase } from '../../../electron/main/services/store/database';

function setup(start = new Date('2030-01-01T00:00:00Z')) {
  const file = join(mkdtempSync(join(tmpdir(), 'berth-keys-')), 'berth.db');
  const db = openDatabase(file);
  let clock = start;
  const keys = createKeyStore({ db, now: () => clock });
  db.prepare("INSERT INTO models (name, group_name, created_at) VALUES ('iris', 'prod', 't'), ('churn', 'prod', 't'), ('old', NULL, 't')").run();
  /** A key as the group-state cache (services/groups/cache.ts) stores it. */
  const cache = (id: string, fields: Partial<Record<'group_name' | 'expires_at' | 'revoked_at' | 'revoked_by', string | null>> = {}) =>
    db
      .prepare(
        `INSERT INTO api_keys (id, group_name, name, sha256, scope, expires_at, created_by, created_at, revoked_at, revoked_by)
         VALUES (@id, @group_name, @id, @sha256, '{"kind":"all"}', @expires_at, 'alice', '2030-01-01T00:00:00Z', @revoked_at, @revoked_by)`,
      )
      .run({ id, sha256: sha256Hex(id), group_name: 'prod', expires_at: null, revoked_at: null, revoked_by: null, ...fields });
  return { db, file, keys, cache, advance: (ms: number) => (clock = new Date(clock.getTime() + ms)) };
}

describe('API keys', () => {
  it('makes secrets of brt_ + 40 base62 characters, never the same twice', () => {
    const secrets = new Set(Array.from({ length: 2000 }, generateSecret));
    expect(secrets.size).toBe(2000);
    for (const s of secrets) expect(s).toMatch(/^brt_[0-9A-Za-z]{40}$/);
    // every base62 character shows up: the alphabet is not truncated
    expect(new Set([...secrets].map((s) => s.slice(4)).join(''))).toHaveLength(62);
  });

  it('prepares the group-state entry of a key with only the sha256 of its secret, and stores nothing itself', () => {
    const { db, file, keys } = setup();
    const { entry, secret, group } = keys.prepare({ name: 'billing', scope: { kind: 'model', model: 'iris' }, expiresAt: '2030-02-01T00:00:00+01:00' }, 'alice');
    expect(entry).toEqual({
      id: expect.stringMatching(/^key_[0-9a-f]{12}$/),
      name: 'billing',
      sha256: sha256Hex(secret),
      scope: { kind: 'model', model: 'iris' },
      expiresAt: '2030-01-31T23:00:00.000Z',
      createdBy: 'alice',
      createdAt: '2030-01-01T00:00:00.000Z',
      revokedAt: null,
      revokedBy: null,
    });
    expect(group).toBeUndefined();
    expect(JSON.stringify(entry)).not.toContain(secret);
    expect(keys.prepare({ name: 'x', scope: { kind: 'all' }, group: 'staging' }, 'a').group).toBe('staging');
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(file).toString('latin1')).not.toContain(secret);
    expect(keys.list()).toEqual([]);
  });

  it('refuses what would surprise: unknown model, past expiry, no name, a bad group name', () => {
    const { keys } = setup();
    expect(() => keys.prepare({ name: 'x', scope: { kind: 'model', model: 'nope' } }, 'a')).toThrow(/No model named "nope".*models: churn, iris, old/);
    expect(() => keys.prepare({ name: 'x', scope: { kind: 'all' }, expiresAt: '2029-12-31T00:00:00Z' }, 'a')).toThrow(/in the past/);
    expect(() => keys.prepare({ name: '', scope: { kind: 'all' } }, 'a')).toThrow(/Name the key/);
    expect(() => keys.prepare({ name: 'x', scope: { kind: 'all' }, group: 'Prod Servers' }, 'a')).toThrow(/Group names use lowercase/);
  });

  it('knows each model’s group, and each key’s', () => {
    const { keys, cache } = setup();
    expect(keys.modelGroup('iris')).toBe('prod');
    expect(keys.modelGroup('old')).toBeNull();
    expect(() => keys.modelGroup('nope')).toThrow(/No model named "nope"/);
    cache('key_aa');
    cache('key_bb', { group_name: null });
    expect(keys.groupOf('key_aa')).toBe('prod');
    expect(keys.groupOf('key_bb')).toBeNull();
    expect(() => keys.groupOf('key_00')).toThrow(/no API key key_00/);
  });

  it('shows the cached keys with their group and state: active, expired, revoked; refuses a second revoke', () => {
    const { keys, cache, advance } = setup();
    cache('key_aa');
    cache('key_bb', { expires_at: '2030-01-02T00:00:00.000Z' });
    cache('key_cc', { revoked_at: '2030-01-01T00:00:01Z', revoked_by: 'bob' });
    advance(2 * 86_400_000);
    expect(Object.fromEntries(keys.list().map((k) => [k.id, `${k.group} ${k.state}`]))).toEqual({ key_aa: 'prod active', key_bb: 'prod expired', key_cc: 'prod revoked' });
    expect(keys.list()[0]).not.toHaveProperty('sha256');
    expect(keys.checkRevocable('key_aa').id).toBe('key_aa');
    expect(() => keys.checkRevocable('key_cc')).toThrow('key_cc ("key_cc") was already revoked at 2030-01-01T00:00:01Z by bob');
  });

  it('shows request counts given by the logs service, or a live source when wired', () => {
    const { db, keys, cache } = setup();
    cache('key_aa');
    expect(keys.setUsage([{ keyId: 'key_aa', requests: 42, lastUsedAt: '2030-01-01T00:00:01Z' }, { keyId: 'key_gone', requests: 1, lastUsedAt: null }])).toBe(1);
    expect(keys.get('key_aa')).toMatchObject({ requests: 42, lastUsedAt: '2030-01-01T00:00:01Z' });
    const live = createKeyStore({ db, usage: () => [{ keyId: 'key_aa', requests: 7, lastUsedAt: null }] });
    expect(live.list()[0].requests).toBe(7);
    const broken = createKeyStore({ db, usage: () => { throw new Error('logs not ready'); } });
    expect(broken.list()[0].requests).toBe(42);
  });

  it('lists models with their public flag and versions', () => {
    const { db, keys } = setup();
    db.prepare("UPDATE models SET public = 1 WHERE name = 'iris'").run();
    db.prepare("INSERT INTO versions (model_id, number, image_ref, image_id, created_by, created_at, state) SELECT id, 1, 'r', 'i', 'a', 't', 'live' FROM models WHERE name = 'iris'").run();
    db.prepare("INSERT INTO versions (model_id, number, image_ref, image_id, created_by, created_at, state) SELECT id, 2, 'r', 'i', 'a', 't', 'retired' FROM models WHERE name = 'iris'").run();
    expect(keys.models()).toEqual([
      { name: 'churn', public: false, versions: [] },
      { name: 'iris', public: true, versions: ['1'] },
      { name: 'old', public: false, versions: [] },
    ]);
    expect(keys.publicFlag('iris')).toBe(true);
    expect(() => keys.publicFlag('nope')).toThrow(/No model named/);
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
