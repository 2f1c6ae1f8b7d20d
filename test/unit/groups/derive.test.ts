import { describe, expect, it } from 'vitest';
import type { GroupState, Revocation, StateFile, StateKey, StateMember, StateModel, StateRevision, StateVersion } from '../../../shared/group-state';
import { parseListing, revisionHash, stateFileText } from '../../../electron/main/services/groups/copies';
import { deriveMembers, deriveRoutes, serverView, type ServerView } from '../../../electron/main/services/groups/derive';
import { checkRoutes } from '../../../electron/main/services/gateway/routes';

const uid = (n: number) => `srv_${n.toString(16).padStart(16, '0')}`;
const ME = uid(1);
const NOW = new Date('2026-12-01T12:00:00Z');

const server = (n: number) => ({ uid: uid(n), name: `tb${n}`, host: `10.0.0.${n}`, port: 22 });

function version(number: number, state: StateVersion['state'], placements: Record<string, number[]>): StateVersion {
  return {
    number,
    imageRef: `berth/m:${number}`,
    imageId: `sha256:${number}`,
    notebookHash: null,
    dockerfile: null,
    requirements: null,
    createdBy: 'alice',
    createdAt: '2026-12-01T10:00:00Z',
    state,
    resources: { replicas: 1, memoryMb: 256, cpus: 1 },
    placements: Object.fromEntries(Object.entries(placements).map(([u, ports]) => [u, ports.map((port, i) => ({ name: `berth-m-v${number}-r${i + 1}`, port }))])),
  };
}

function model(versions: StateVersion[], aliases: Record<string, number>, isPublic = false): StateModel {
  return { public: isPublic, keepVersions: 5, createdBy: 'alice', createdAt: '2026-12-01T10:00:00Z', versions, aliases };
}

function key(id: string, scope: StateKey['scope'], extra: Partial<StateKey> = {}): StateKey {
  return {
    id,
    name: id,
    sha256: id.slice(4).padEnd(64, '0').slice(0, 64).replace(/[^0-9a-f]/g, '0'),
    scope,
    expiresAt: null,
    createdBy: 'alice',
    createdAt: '2026-12-01T10:00:00Z',
    revokedAt: null,
    revokedBy: null,
    ...extra,
  };
}

function member(id: string, role: StateMember['role'], publicKey: string): StateMember {
  return { id, name: id, role, publicKey, keyType: 'ssh-ed25519', fingerprint: `SHA256:${id}`, createdAt: '2026-12-01T10:00:00Z', updatedAt: '2026-12-01T10:00:00Z' };
}

function state(parts: Partial<GroupState> = {}): GroupState {
  return { servers: [server(1), server(2), server(3)], settings: { replicas: 1, webhooks: [] }, models: {}, keys: [], members: [], ...parts };
}

function view(states: Record<string, GroupState>, revocations: Record<string, Revocation[]> = {}): ServerView {
  return { states: new Map(Object.entries(states)), damaged: [], revocations: new Map(Object.entries(revocations)) };
}

function fileOf(group: string, s: GroupState, revision = 1): StateFile {
  const rev: StateRevision = { format: 1, group, revision, prev: null, at: '2026-12-01T10:00:00Z', by: { holder: 'alice', machine: 'laptop' }, change: 'x', state: s };
  return { hash: revisionHash(rev), revision: rev };
}

const listingOf = (me: string, groups: Record<string, StateFile | string>, revoked: string[] = []) =>
  parseListing(
    [
      `identity\t{"uid":"${me}"}`,
      ...Object.entries(groups).map(([g, f]) => `state\t${g}\t${typeof f === 'string' ? f : stateFileText(f).trimEnd()}`),
      ...revoked,
      '',
    ].join('\n'),
  );

describe('serverView', () => {
  it('keeps the verified groups that name this server, lists damaged ones, ignores groups without it', () => {
    const mine = fileOf('team', state());
    const notMine = fileOf('elsewhere', state({ servers: [server(2)] }));
    const damaged = stateFileText(fileOf('broken', state())).trimEnd().replace('"holder":"alice"', '"holder":"mallory"');
    const listing = listingOf(ME, { team: mine, elsewhere: notMine, broken: damaged }, [`revoked\tteam\t{"kind":"key","id":"key_aa","at":"2026-12-01T11:00:00Z","by":"alice"}`]);
    const v = serverView(listing);
    expect([...v.states.keys()]).toEqual(['team']);
    expect(v.states.get('team')).toEqual(mine.revision.state);
    expect(v.damaged).toEqual(['broken']);
    expect(v.revocations.get('team')).toEqual([{ kind: 'key', id: 'key_aa', at: '2026-12-01T11:00:00Z', by: 'alice' }]);
  });

  it('a server without an identity belongs to no group', () => {
    const listing = parseListing(`identity\t\nstate\tteam\t${stateFileText(fileOf('team', state())).trimEnd()}\n`);
    expect(serverView(listing).states.size).toBe(0);
  });
});

describe('deriveRoutes', () => {
  it("routes this server's replicas of live versions only, and the aliases that name them", () => {
    const iris = model(
      [
        version(1, 'live', { [ME]: [9101, 9102], [uid(2)]: [9101] }),
        version(2, 'stopped', { [ME]: [9103] }),
        version(3, 'retired', {}),
        version(4, 'live', { [uid(2)]: [9104] }),
        version(5, 'live', { [ME]: [9105] }),
        version(6, 'pending', { [ME]: [9106] }),
        version(7, 'failed', { [ME]: [9107] }),
      ],
      { latest: 5, stable: 1, old: 2, elsewhere: 4, gone: 3 },
      true,
    );
    const routes = deriveRoutes(view({ team: state({ models: { iris } }) }), ME, NOW);
    expect(routes.models).toEqual({
      iris: {
        public: true,
        versions: { '1': { replicas: ['127.0.0.1:9101', '127.0.0.1:9102'] }, '5': { replicas: ['127.0.0.1:9105'] } },
        aliases: { latest: '5', stable: '1' },
      },
    });
    // The gateway accepts it (an alias naming an unrouted version would make it refuse the whole table).
    expect(() => checkRoutes({ revision: 1, ...routes })).not.toThrow();
  });

  it('a stopped version is not routed; an alias to it is dropped', () => {
    const m = model([version(1, 'live', { [ME]: [9101] }), version(2, 'stopped', { [ME]: [9102] })], { latest: 2, stable: 1 });
    const routes = deriveRoutes(view({ team: state({ models: { m } }) }), ME, NOW);
    expect(Object.keys(routes.models.m.versions)).toEqual(['1']);
    expect(routes.models.m.aliases).toEqual({ stable: '1' });
  });

  it('another server sees only its own replicas', () => {
    const m = model([version(1, 'live', { [ME]: [9101], [uid(2)]: [9201, 9202] })], { latest: 1 });
    expect(deriveRoutes(view({ team: state({ models: { m } }) }), uid(2), NOW).models.m.versions).toEqual({ '1': { replicas: ['127.0.0.1:9201', '127.0.0.1:9202'] } });
    expect(deriveRoutes(view({ team: state({ models: { m } }) }), uid(3), NOW).models).toEqual({});
  });

  it('leaves out a model with nothing routed here', () => {
    const m = model([version(1, 'stopped', { [ME]: [9101] })], { latest: 1 });
    expect(deriveRoutes(view({ team: state({ models: { m } }) }), ME, NOW).models).toEqual({});
  });

  it('never lets a revoked key (in the state or in the revocation file) or an expired key reach the table', () => {
    const m = model([version(1, 'live', { [ME]: [9101] })], { latest: 1 });
    const s = state({
      models: { m },
      keys: [
        key('key_01', { kind: 'model', model: 'm' }),
        key('key_02', { kind: 'model', model: 'm' }, { revokedAt: '2026-12-01T11:00:00Z', revokedBy: 'alice' }),
        key('key_03', { kind: 'model', model: 'm' }),
        key('key_04', { kind: 'model', model: 'm' }, { expiresAt: '2026-12-01T11:59:59Z' }),
        key('key_05', { kind: 'model', model: 'm' }, { expiresAt: '2026-12-01T12:00:00Z' }),
        key('key_06', { kind: 'model', model: 'm' }, { expiresAt: '2026-12-02T00:00:00Z' }),
      ],
    });
    const revoked: Revocation[] = [
      { kind: 'key', id: 'key_03', at: '2026-12-01T11:30:00Z', by: 'bob' },
      // A member revocation with a key's id takes no key away.
      { kind: 'member', id: 'key_01', at: '2026-12-01T11:30:00Z', by: 'bob' },
    ];
    const routes = deriveRoutes(view({ team: s }, { team: revoked }), ME, NOW);
    expect(routes.keys.map((k) => k.id)).toEqual(['key_01', 'key_06']);
    expect(routes.keys[1]).toEqual({ id: 'key_06', sha256: s.keys[5].sha256, models: ['m'], versions: null, expiresAt: '2026-12-02T00:00:00Z' });
  });

  it('a revocation of one group does not take away a key of another group with the same id', () => {
    const a = state({ keys: [key('key_aa', { kind: 'all' })] });
    const routes = deriveRoutes(view({ one: a }, { two: [{ kind: 'key', id: 'key_aa', at: '2026-12-01T11:00:00Z', by: 'x' }] }), ME, NOW);
    expect(routes.keys.map((k) => k.id)).toEqual(['key_aa']);
  });

  it("an 'all' key of one group covers only its own group's models on a server in two groups", () => {
    const live = (port: number) => model([version(1, 'live', { [ME]: [port] })], { latest: 1 });
    const team = state({ models: { zeta: live(9101), alpha: live(9102) }, keys: [key('key_0a', { kind: 'all' })] });
    const other = state({ models: { billing: live(9103) }, keys: [key('key_0b', { kind: 'all' }), key('key_0c', { kind: 'versions', model: 'billing', versions: ['1'] })] });
    const routes = deriveRoutes(view({ team, other }), ME, NOW);
    expect(Object.keys(routes.models).sort()).toEqual(['alpha', 'billing', 'zeta']);
    expect(routes.keys).toEqual([
      { id: 'key_0a', sha256: team.keys[0].sha256, models: ['alpha', 'zeta'], versions: null, expiresAt: null },
      { id: 'key_0b', sha256: other.keys[0].sha256, models: ['billing'], versions: null, expiresAt: null },
      { id: 'key_0c', sha256: other.keys[1].sha256, models: ['billing'], versions: { billing: ['1'] }, expiresAt: null },
    ]);
    expect(() => checkRoutes({ revision: 1, ...routes })).not.toThrow();
  });

  it("an 'all' key of a group with no models routes to none (not null, which would mean every model)", () => {
    const routes = deriveRoutes(view({ empty: state({ keys: [key('key_0d', { kind: 'all' })] }) }), ME, NOW);
    expect(routes.keys[0].models).toEqual([]);
  });
});

describe('deriveMembers', () => {
  it('unites the members of all groups, without those removed in any revocation file of their group', () => {
    const team = state({ members: [member('m_01', 'admin', 'ssh-ed25519 AAAA1'), member('m_02', 'deployer', 'ssh-ed25519 AAAA2')] });
    const other = state({ members: [member('m_03', 'viewer', 'ssh-ed25519 AAAA3')] });
    const members = deriveMembers(view({ team, other }, { team: [{ kind: 'member', id: 'm_02', at: '2026-12-01T11:00:00Z', by: 'alice' }] }));
    expect(members.map((m) => m.id)).toEqual(['m_01', 'm_03']);
  });

  it('a person in two groups (same key) gets the stronger role', () => {
    const team = state({ members: [member('m_0a', 'viewer', 'ssh-ed25519 SAME')] });
    const other = state({ members: [member('m_0b', 'admin', 'ssh-ed25519 SAME')] });
    expect(deriveMembers(view({ team, other })).map((m) => [m.id, m.role])).toEqual([['m_0b', 'admin']]);
    expect(deriveMembers(view({ other, team })).map((m) => [m.id, m.role])).toEqual([['m_0b', 'admin']]);
  });
});

describe('deriveRoutes: HTTPS-only groups', () => {
  const https = (s: GroupState): GroupState => ({ ...s, settings: { ...s.settings, tls: 'https' } });
  const withModel = (name: string) => state({ models: { [name]: model([version(1, 'live', { [ME]: [9100] })], { latest: 1 }) } });

  it('marks the whole table when every group of the server serves HTTPS only', () => {
    const routes = deriveRoutes(view({ prod: https(withModel('iris')), dev: https(withModel('dogs')) }), ME, NOW);
    expect(routes.httpsOnly).toBe(true);
    expect(routes.models.iris.httpsOnly).toBe(true);
    expect(checkRoutes({ revision: 1, ...routes }).httpsOnly).toBe(true);
  });

  it('marks only the HTTPS group’s models on a server it shares with a group that still serves HTTP', () => {
    const routes = deriveRoutes(view({ prod: https(withModel('iris')), legacy: withModel('wine') }), ME, NOW);
    expect(routes.httpsOnly).toBeUndefined();
    expect(routes.models.iris.httpsOnly).toBe(true);
    expect(routes.models.wine).not.toHaveProperty('httpsOnly');
  });

  it('leaves a table of groups made before HTTPS as it was', () => {
    const routes = deriveRoutes(view({ prod: withModel('iris') }), ME, NOW);
    expect(routes).not.toHaveProperty('httpsOnly');
    expect(routes.models.iris).toEqual({ public: false, versions: { '1': { replicas: ['127.0.0.1:9100'] } }, aliases: { latest: '1' } });
  });
});
