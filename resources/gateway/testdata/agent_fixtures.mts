/**
 * Writes the fixtures the agent's Go tests compare against, from Berth's own TypeScript (run from a checkout with
 * node_modules, e.g. `cd /work/main && node_modules/.bin/tsx <this file> <out dir>`):
 * agent_canonical.json (RFC 8785 text and revision hashes) and agent_derive.json (deriveRoutes results).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = process.cwd();
const canonicalModule = createRequire(join(root, 'package.json'))('canonicalize');
const canonicalize = (canonicalModule.default ?? canonicalModule) as (v: unknown) => string;
const { revisionHash, stateFileText } = await import(join(root, 'electron/main/services/groups/copies.ts'));
const { deriveRoutes } = await import(join(root, 'electron/main/services/groups/derive.ts'));
const out = process.argv[2] ?? '.';

const uid = (n: number) => `srv_${n.toString(16).padStart(16, '0')}`;
const server = (n: number) => ({ uid: uid(n), name: `fb${n}`, host: `10.77.1.${n}`, port: 22 });

const version = (number: number, state: string, placements: Record<string, number[]>, extra = {}) => ({
  number,
  imageRef: `berth/m:${number}`,
  imageId: `sha256:${'ab'.repeat(32)}`,
  notebookHash: null,
  dockerfile: null,
  requirements: null,
  createdBy: 'alice',
  createdAt: '2026-12-01T10:00:00Z',
  state,
  resources: { replicas: 2, memoryMb: 512, cpus: 0.5 },
  placements: Object.fromEntries(
    Object.entries(placements).map(([u, ports]) => [u, ports.map((port, i) => ({ name: `berth-m-v${number}-r${i + 1}`, port }))]),
  ),
  ...extra,
});
const model = (versions: unknown[], aliases: Record<string, number>, isPublic = false) => ({
  public: isPublic, keepVersions: 5, createdBy: 'alice', createdAt: '2026-12-01T10:00:00Z', versions, aliases,
});
const key = (id: string, scope: unknown, extra = {}) => ({
  id, name: `client ${id}`, sha256: id.slice(4).padEnd(64, '0'), scope, expiresAt: null, createdBy: 'alice',
  createdAt: '2026-12-01T10:00:00Z', revokedAt: null, revokedBy: null, ...extra,
});
const state = (parts = {}) => ({
  servers: [server(1), server(2), server(3)],
  settings: { replicas: 1, webhooks: ['https://hooks.example.com/x'], peerToken: 'c0ffee'.padEnd(64, '0') },
  models: {}, keys: [], members: [], ...parts,
});

// Canonical JSON: awkward strings, numbers and key orders, then whole revisions.
const values: unknown[] = [
  { b: 1, a: [true, false, null], 'é': 'é', '€': '€', '😀': 'emoji', Z: 'upper', '': 'empty' },
  { s: 'quote " backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \u0000 us \u001f del \u007f <&> \u2028 \u2029' },
  { n: [0, -0, 1, -1, 0.5, 1.25, 100, 1e21, 1e-7, 123456789012, 3.14159, 1e300, 5e-324, 0.1, 2.5e-5, 9007199254740993] },
  { nested: { z: { y: { x: [{ b: 2, a: 1 }, [], {}] } } }, '\u00ff': 1, '\u0100': 2, '\ud800\udc00': 3, '\uffff': 4 },
];
// Texts as another writer might spell them: JSON.parse reads the numbers as doubles first.
const texts = ['[1E3, 0.50, 1.250e0, -0.0, 1e-6, 1.5e-7, 12345678901234567890, 1e21, 123e-20, 4.35, 0.000001234]', '{"\\u00e9":"\\u0007\\u001F\\/"}'];
const revisionOf = (group: string, revision: number, s: unknown) => ({
  format: 1, group, revision, prev: revision > 1 ? 'a'.repeat(64) : null, at: '2026-12-01T12:00:00.123Z',
  by: { holder: 'Zoë Ångström', machine: 'laptop\t"7"' }, change: 'Deployed iris v3 — 2 replicas ✓', state: s,
});
const revision = revisionOf('prod', 3, state({
  models: { iris: model([version(3, 'live', { [uid(1)]: [9101, 9102], [uid(2)]: [9101] })], { latest: 3 }) },
  keys: [key('key_0a', { kind: 'all' })],
}));
writeFileSync(join(out, 'agent_canonical.json'), JSON.stringify({
  values: [...values.map((v) => JSON.stringify(v)), ...texts].map((json) => ({ json, canonical: canonicalize(JSON.parse(json)) })),
  stateFile: stateFileText({ hash: revisionHash(revision), revision }),
  revisionCanonical: canonicalize(revision),
}, null, 1) + '\n');

// deriveRoutes: two groups on server 1, revocations, expiry, aliases, per-group "all models".
const NOW = new Date('2026-12-01T12:00:00Z');
const prod = state({
  models: {
    iris: model([version(1, 'retired', { [uid(1)]: [9100] }), version(2, 'live', { [uid(1)]: [9101, 9102], [uid(2)]: [9101] }), version(3, 'pending', { [uid(1)]: [9103] })], { latest: 2, stable: 1, next: 3 }, true),
    wine: model([version(1, 'live', { [uid(2)]: [9105] })], { latest: 1 }),
    cars: model([version(4, 'live', { [uid(1)]: [9107] }), version(5, 'stopped', { [uid(1)]: [9108] })], { latest: 4 }),
  },
  keys: [
    key('key_0c', { kind: 'all' }),
    key('key_0a', { kind: 'model', model: 'iris' }, { expiresAt: '2027-01-01T00:00:00Z' }),
    key('key_0b', { kind: 'versions', model: 'cars', versions: ['4', '5'] }),
    key('key_0d', { kind: 'all' }, { revokedAt: '2026-11-30T00:00:00Z', revokedBy: 'bob' }),
    key('key_0e', { kind: 'all' }, { expiresAt: '2026-12-01T11:59:59Z' }),
    key('key_0f', { kind: 'model', model: 'wine' }),
    key('key_10', { kind: 'all' }, { expiresAt: '2026-12-01T12:00:00.000Z' }),
  ],
});
const dev = state({
  servers: [server(1)],
  settings: { replicas: 1, webhooks: [], peerToken: 'c0ffee'.padEnd(64, '0'), tls: 'https' },
  models: { dogs: model([version(7, 'live', { [uid(1)]: [9110] })], { latest: 7 }) },
  keys: [key('key_09', { kind: 'all' }), key('key_1a', { kind: 'model', model: 'dogs' })],
});
const revocations = { prod: [{ kind: 'key', id: 'key_0f', at: '2026-12-01T11:00:00Z', by: 'bob' }, { kind: 'member', id: 'key_0c', at: '2026-12-01T11:00:00Z', by: 'bob' }] };
const cases = [
  { uid: uid(1), states: { prod, dev }, revocations },
  { uid: uid(2), states: { prod, dev }, revocations: {} },
  { uid: uid(3), states: { prod }, revocations },
  { uid: uid(1), states: { dev }, revocations: {} },
];
writeFileSync(join(out, 'agent_derive.json'), JSON.stringify({
  now: NOW.toISOString(),
  cases: cases.map((c) => ({
    ...c,
    routes: deriveRoutes({ states: new Map(Object.entries(c.states)), damaged: [], revocations: new Map(Object.entries(c.revocations)) }, c.uid, NOW),
  })),
}, null, 1) + '\n');
