import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { GroupState, type Revocation, type StateFile, type StateModel } from '../../../shared/group-state';
import { createAuditService } from '../../../electron/main/services/access/audit/service';
import { sha256Hex } from '../../../electron/main/services/access/keys';
import { createAccessService } from '../../../electron/main/services/access/service';
import { createStateCache } from '../../../electron/main/services/groups/cache';
import { breakLock, listLocks } from '../../../electron/main/services/groups/remote';
import type { ChangeOptions, ServerOutcome } from '../../../electron/main/services/groups/service';
import { groupLock, modelLock, type ServerLayout } from '../../../electron/main/services/remote/layout';
import { createServerRegistry } from '../../../electron/main/services/servers/registry';
import { openDatabase } from '../../../electron/main/services/store/database';
import { RecordingShell, type Rule } from '../support/recording-shell';

const layout: ServerLayout = { berthDir: '/var/lib/berth', libDir: '/usr/local/lib/berth', authorizedKeys: '.ssh/authorized_keys' };
const NOW = new Date('2030-01-01T00:00:00Z');

function publicKey(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `berth-unit-member-${name}-`));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', join(dir, 'id')]);
  return readFileSync(join(dir, 'id.pub'), 'utf8').trim();
}

interface Call {
  kind: 'change' | 'revoke';
  group: string;
  what: string;
  team: boolean;
  revocations?: Revocation[];
}

/**
 * The group-state service as the access service sees it: `change` applies the mutation to the group's state
 * (validated like the real one) and caches the revision the way services/groups/cache.ts does; every server of
 * the group answers ok unless told otherwise.
 */
function setup(groups: Record<string, string[]> = { prod: ['tb1', 'tb2', 'tb3'] }, rules: Rule[] = []) {
  const db = openDatabase(':memory:');
  const registry = createServerRegistry(db, () => NOW);
  const cache = createStateCache(db, registry);
  const names = [...new Set(Object.values(groups).flat())].sort();
  const shells = new Map<number, RecordingShell>();
  for (const [i, name] of names.entries()) {
    const row = registry.insert({ name, host: `10.0.0.${i + 1}`, port: 22, username: 'root', auth: 'key', keySecretId: null, keyOrigin: null, hostKeyType: 'ssh-ed25519', hostKeyFingerprint: `SHA256:${name}` });
    registry.setUid(row.id, `srv_${String(i + 1).padStart(16, '0')}`);
    shells.set(row.id, new RecordingShell(rules, { host: name }));
  }
  const idOf = (name: string) => registry.list().find((s) => s.name === name)!.id;
  const states = new Map<string, { revision: number; state: GroupState }>();
  for (const [group, servers] of Object.entries(groups)) {
    registry.updateGroup(registry.createGroup(group, 1).id, { serverIds: servers.map(idOf) });
    const state: GroupState = {
      servers: servers.map((n) => ({ uid: registry.get(idOf(n)).uid!, name: n, host: registry.get(idOf(n)).host, port: 22 })),
      settings: { replicas: 1, webhooks: [] },
      models: {},
      keys: [],
      members: [],
    };
    states.set(group, { revision: 0, state });
  }
  const calls: Call[] = [];
  const failing = new Map<string, string>();
  let unrecorded: string | null = null;
  const outcomes = (group: string): ServerOutcome[] =>
    registry.group(group).serverIds.map((id) => {
      const server = registry.get(id).name;
      return failing.has(server) ? { serverId: id, server, ok: false, error: failing.get(server) } : { serverId: id, server, ok: true };
    });

  async function change<T>(group: string, what: string, mutate: (state: GroupState) => T, options: ChangeOptions = {}) {
    calls.push({ kind: 'change', group, what, team: options.team ?? false });
    const current = states.get(group)!;
    const state = structuredClone(current.state);
    const result = mutate(state);
    GroupState.parse(state);
    const revision = { format: 1 as const, group, revision: current.revision + 1, prev: null, at: NOW.toISOString(), by: { holder: 'tester', machine: 'box' }, change: what, state };
    const file: StateFile = { hash: createHash('sha256').update(JSON.stringify(revision)).digest('hex'), revision };
    states.set(group, { revision: revision.revision, state });
    cache.importRevision(file, NOW.toISOString());
    return { result, file, servers: outcomes(group) };
  }

  async function revoke(group: string, revocations: Revocation[], what: string, mutate: (state: GroupState) => void, options: ChangeOptions = {}) {
    calls.push({ kind: 'revoke', group, what, team: options.team ?? false, revocations });
    const servers = outcomes(group);
    if (unrecorded) return { servers, recorded: { revision: null, error: unrecorded } };
    const commit = await change(group, what, mutate, options);
    calls.pop(); // the revision recording a revocation is part of the revoke call
    return { servers, recorded: { revision: commit.file.revision.revision, error: null } };
  }

  const servers = () => registry.list().map((s) => ({ id: s.id, name: s.name }));
  const audit = createAuditService({ db, servers: () => [], connection: () => Promise.reject(new Error('no servers in unit tests')), layout, actor: () => ({ actor: 'alice', machine: 'laptop' }) });
  const access = createAccessService({
    db,
    audit,
    servers,
    connection: async (id) => shells.get(id)!.connection,
    layout,
    actor: () => 'alice',
    groups: { change, revoke } as never,
    now: () => NOW,
  });
  return {
    db,
    access,
    audit,
    calls,
    shells,
    idOf,
    state: (group: string) => states.get(group)!.state,
    addModel: (group: string, name: string) =>
      change(group, `model ${name}`, (s) => {
        s.models[name] = model();
      }).then(() => void calls.pop()),
    failOn: (server: string, error: string) => failing.set(server, error),
    leaveUnrecorded: (error: string) => (unrecorded = error),
  };
}

const model = (): StateModel => ({ public: false, keepVersions: 5, createdBy: 'alice', createdAt: NOW.toISOString(), versions: [], aliases: {} });

describe('keys on the group state', () => {
  it('puts a key for a model into that model’s group; only its sha256 goes into the state', async () => {
    const t = setup({ prod: ['tb1', 'tb2'], staging: ['tb3'] });
    await t.addModel('staging', 'iris');
    const created = await t.access.createKey({ name: 'billing', scope: { kind: 'model', model: 'iris' } });
    expect(t.calls).toEqual([{ kind: 'change', group: 'staging', what: `key ${created.key.id} created (billing)`, team: false }]);
    expect(t.state('staging').keys).toEqual([expect.objectContaining({ id: created.key.id, sha256: sha256Hex(created.secret), createdBy: 'alice', revokedAt: null })]);
    expect(JSON.stringify(t.state('staging'))).not.toContain(created.secret);
    expect(t.state('prod').keys).toEqual([]);
    expect(created.key).toMatchObject({ group: 'staging', name: 'billing', state: 'active' });
    expect(created.publish).toEqual({ servers: [{ serverId: t.idOf('tb3'), server: 'tb3', ok: true, revision: 2 }] });
    expect(t.audit.list({ action: 'key.create' })[0]).toMatchObject({ target: created.key.id, result: 'ok', actor: 'alice', details: { group: 'staging', revision: 2, published: ['tb3:ok'] } });
  });

  it('puts a key for all models into the only group, and asks which group when there are several', async () => {
    const one = setup();
    const created = await one.access.createKey({ name: 'ci', scope: { kind: 'all' } });
    expect(created.key.group).toBe('prod');
    expect(created.publish.servers.map((s) => s.server)).toEqual(['tb1', 'tb2', 'tb3']);

    const two = setup({ prod: ['tb1'], staging: ['tb2'] });
    await two.addModel('prod', 'iris');
    await expect(two.access.createKey({ name: 'ci', scope: { kind: 'all' } })).rejects.toThrow('Choose the group for a key for all models: this Berth knows 2 groups (prod, staging)');
    expect((await two.access.createKey({ name: 'ci', scope: { kind: 'all' }, group: 'staging' })).key.group).toBe('staging');
    await expect(two.access.createKey({ name: 'x', scope: { kind: 'model', model: 'iris' }, group: 'staging' })).rejects.toThrow(/Model "iris" belongs to group "prod", not "staging"/);
    await expect(two.access.createKey({ name: 'x', scope: { kind: 'all' }, group: 'nightly' })).rejects.toThrow('There is no server group "nightly" (groups: prod, staging)');
    await expect(two.access.createKey({ name: 'x', scope: { kind: 'model', model: 'nope' } })).rejects.toThrow(/No model named "nope" has been deployed \(models: iris\)/);
  });

  it('refuses a key for a model the group state no longer holds, and writes nothing', async () => {
    const t = setup();
    t.db.prepare("INSERT INTO models (name, group_name, created_at) VALUES ('gone', 'prod', 't')").run(); // cached, removed since
    await t.addModel('prod', 'iris');
    await expect(t.access.createKey({ name: 'x', scope: { kind: 'model', model: 'gone' } })).rejects.toThrow(/No model named "gone" has been deployed \(models: iris\)/);
    expect(t.state('prod').keys).toEqual([]);
    expect(t.audit.list({})).toEqual([]); // a refused change changed nothing: not audited
  });

  it('revokes a key at once on its group’s servers, as a revocation and in the state', async () => {
    const t = setup();
    const { key } = await t.access.createKey({ name: 'ci', scope: { kind: 'all' } });
    t.calls.length = 0;
    const revoked = await t.access.revokeKey(key.id);
    expect(t.calls).toEqual([{ kind: 'revoke', group: 'prod', what: `key ${key.id} revoked`, team: false, revocations: [{ kind: 'key', id: key.id, at: NOW.toISOString(), by: 'alice' }] }]);
    expect(t.state('prod').keys[0]).toMatchObject({ revokedAt: NOW.toISOString(), revokedBy: 'alice' });
    expect(revoked.key).toMatchObject({ state: 'revoked', revokedBy: 'alice' });
    expect(revoked.publish.servers.map((s) => `${s.server}:${s.ok}`)).toEqual(['tb1:true', 'tb2:true', 'tb3:true']);
    expect(t.audit.list({ action: 'key.revoke' })[0]).toMatchObject({ target: key.id, result: 'ok', details: { group: 'prod', published: ['tb1:ok', 'tb2:ok', 'tb3:ok'] } });
    await expect(t.access.revokeKey(key.id)).rejects.toThrow(/already revoked .* by alice/);
  });

  it('says so when a revocation reached the servers but no revision, and shows the key revoked anyway', async () => {
    const t = setup();
    const { key } = await t.access.createKey({ name: 'ci', scope: { kind: 'all' } });
    t.failOn('tb3', 'tb3 is unreachable');
    t.leaveUnrecorded('Only 1 of 3 servers could be locked');
    const revoked = await t.access.revokeKey(key.id);
    expect(revoked.publish.servers.map((s) => `${s.server}:${s.ok}`)).toEqual(['tb1:true', 'tb2:true', 'tb3:false']);
    expect(revoked.publish.note).toMatch(/^Revoked at once on the servers that answered, but not recorded in a new revision .*Only 1 of 3 servers could be locked/);
    expect(revoked.key.state).toBe('revoked');
    expect(t.audit.list({ action: 'key.revoke' })[0]).toMatchObject({ result: 'partial', details: { published: ['tb1:ok', 'tb2:ok', 'tb3:error: tb3 is unreachable'] } });
  });

  it('fails a revocation that no server took, and audits the failure', async () => {
    const t = setup({ prod: ['tb1'] });
    const { key } = await t.access.createKey({ name: 'ci', scope: { kind: 'all' } });
    t.failOn('tb1', 'connection refused');
    t.leaveUnrecorded('Only 0 of 1 servers could be locked');
    await expect(t.access.revokeKey(key.id)).rejects.toThrow(/could not be revoked: no server of group "prod" answered/);
    expect(t.audit.list({ action: 'key.revoke' })[0]).toMatchObject({ result: 'failed' });
  });

  it('revokes a key that no group holds (an old data folder’s) in this data folder only', async () => {
    const t = setup();
    t.db.prepare(`INSERT INTO api_keys (id, name, sha256, scope, created_by, created_at) VALUES ('key_0ld', 'old', '${sha256Hex('x')}', '{"kind":"all"}', 'a', 't')`).run();
    const revoked = await t.access.revokeKey('key_0ld');
    expect(t.calls).toEqual([]);
    expect(revoked).toMatchObject({ key: { state: 'revoked', group: null }, publish: { servers: [], note: expect.stringMatching(/no group's state/) } });
  });

  it('makes a model public in its group’s state', async () => {
    const t = setup();
    await t.addModel('prod', 'churn');
    const result = await t.access.setPublic('churn', true);
    expect(t.calls).toEqual([{ kind: 'change', group: 'prod', what: 'model churn made public', team: false }]);
    expect(t.state('prod').models.churn.public).toBe(true);
    expect(result.publish.servers.every((s) => s.ok)).toBe(true);
    expect(t.access.models()).toEqual([{ name: 'churn', public: true, versions: [] }]);
    expect(t.audit.list({ action: 'model.public' })[0]).toMatchObject({ target: 'churn', details: { from: false, to: true, group: 'prod' } });
    await expect(t.access.setPublic('nope', true)).rejects.toThrow(/No model named "nope"/);
  });
});

describe('members on the group state', () => {
  const vera = publicKey('vera');
  const dan = publicKey('dan');

  it('adds a member to the only group with a team change; refuses their key or name twice', async () => {
    const t = setup();
    const added = await t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer' });
    expect(t.calls).toEqual([{ kind: 'change', group: 'prod', what: 'member Vera added as viewer', team: true }]);
    expect(t.state('prod').members).toEqual([expect.objectContaining({ name: 'Vera', role: 'viewer', publicKey: vera.split(' ').slice(0, 2).join(' '), keyType: 'ssh-ed25519' })]);
    expect(added.members).toEqual([expect.objectContaining({ name: 'Vera', role: 'viewer', group: 'prod' })]);
    expect(added.push.servers.map((s) => `${s.server}:${s.ok}:${s.members}`)).toEqual(['tb1:true:1', 'tb2:true:1', 'tb3:true:1']);
    expect(t.audit.list({ action: 'member.add' })[0]).toMatchObject({ target: 'Vera', result: 'ok', details: { role: 'viewer', group: 'prod', servers: ['tb1:ok', 'tb2:ok', 'tb3:ok'] } });

    await expect(t.access.addMember({ name: 'Vera 2', publicKey: vera, role: 'admin' })).rejects.toThrow(/already belongs to Vera in group "prod"/);
    await expect(t.access.addMember({ name: 'Vera', publicKey: dan, role: 'admin' })).rejects.toThrow(/named "Vera" already exists in group "prod"/);
    await expect(t.access.addMember({ name: 'Eve', publicKey: '-----BEGIN OPENSSH PRIVATE KEY-----', role: 'admin' })).rejects.toThrow(/private key/);
    expect(t.audit.list({ action: 'member.add' })).toHaveLength(1);
  });

  it('asks which group a member joins when there are several; the same person may be in two groups', async () => {
    const t = setup({ prod: ['tb1'], staging: ['tb2'] });
    await expect(t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer' })).rejects.toThrow(/Choose the group for member Vera: this Berth knows 2 groups/);
    await t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer', group: 'prod' });
    const both = await t.access.addMember({ name: 'Vera', publicKey: vera, role: 'admin', group: 'staging' });
    expect(both.members.map((m) => `${m.name} ${m.group} ${m.role}`)).toEqual(['Vera prod viewer', 'Vera staging admin']);
  });

  it('changes a role in the member’s group, and does nothing for the same role', async () => {
    const t = setup();
    const { members } = await t.access.addMember({ name: 'Dan', publicKey: dan, role: 'viewer' });
    t.calls.length = 0;
    const same = await t.access.setRole(members[0].id, 'viewer');
    expect(t.calls).toEqual([]);
    expect(same.push).toEqual({ servers: [], at: NOW.toISOString(), note: 'Dan already has the role viewer: nothing changed' });
    const changed = await t.access.setRole(members[0].id, 'deployer');
    expect(t.calls).toEqual([{ kind: 'change', group: 'prod', what: 'member Dan now deployer', team: true }]);
    expect(t.state('prod').members[0]).toMatchObject({ role: 'deployer', updatedAt: NOW.toISOString() });
    expect(changed.members[0].role).toBe('deployer');
    expect(t.audit.list({ action: 'member.role' }).map((e) => e.details)).toEqual([expect.objectContaining({ from: 'viewer', to: 'deployer', group: 'prod' })]);
  });

  it('limits a deployer to some models in the group state, and only a deployer', async () => {
    const t = setup();
    await expect(t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer', models: ['iris'] })).rejects.toThrow(/Only a deployer is limited to some models/);
    const { members } = await t.access.addMember({ name: 'Dan', publicKey: dan, role: 'deployer', models: ['iris', 'churn', 'iris'] });
    expect(t.calls.at(-1)).toMatchObject({ what: 'member Dan added as deployer on churn, iris' });
    expect(t.state('prod').members[0].models).toEqual(['churn', 'iris']);
    expect(members[0].models).toEqual(['churn', 'iris']);
    t.calls.length = 0;
    expect((await t.access.setRole(members[0].id, 'deployer', ['iris', 'churn'])).push.note).toMatch(/already has the role deployer on churn, iris/);
    expect(t.calls).toEqual([]);
    const widened = await t.access.setRole(members[0].id, 'deployer', null);
    expect(t.calls).toEqual([{ kind: 'change', group: 'prod', what: 'member Dan now deployer', team: true }]);
    expect(t.state('prod').members[0]).not.toHaveProperty('models');
    expect(widened.members[0].models).toBeNull();
    await t.access.setRole(members[0].id, 'admin', ['iris']);
    expect(t.state('prod').members[0]).toMatchObject({ role: 'admin' });
    expect(t.state('prod').members[0]).not.toHaveProperty('models');
  });

  it('offboards a member as a revocation with a team change, at once on every server', async () => {
    const t = setup();
    const { members } = await t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer' });
    await t.access.addMember({ name: 'Dan', publicKey: dan, role: 'deployer' });
    t.calls.length = 0;
    const id = members[0].id;
    const removed = await t.access.removeMember(id);
    expect(t.calls).toEqual([{ kind: 'revoke', group: 'prod', what: 'member Vera removed', team: true, revocations: [{ kind: 'member', id, at: NOW.toISOString(), by: 'alice' }] }]);
    expect(t.state('prod').members.map((m) => m.name)).toEqual(['Dan']);
    expect(removed.members.map((m) => m.name)).toEqual(['Dan']);
    expect(removed.push.servers.map((s) => `${s.server}:${s.ok}:${s.members}`)).toEqual(['tb1:true:1', 'tb2:true:1', 'tb3:true:1']);
    expect(t.audit.list({ action: 'member.remove' })[0]).toMatchObject({ target: 'Vera', result: 'ok', details: { member: id, role: 'viewer', servers: ['tb1:ok', 'tb2:ok', 'tb3:ok'] } });
    await expect(t.access.removeMember(id)).rejects.toThrow(/no team member/);
  });

  it('gives a CI runner’s key an owner, and offboards it with its person when asked', async () => {
    const t = setup();
    const dana = (await t.access.addMember({ name: 'Dana', publicKey: dan, role: 'admin' })).members[0];
    const runner = (await t.access.addMember({ name: 'ci-iris', publicKey: vera, role: 'deployer', models: ['iris'], owner: dana.id })).members.find((m) => m.name === 'ci-iris')!;
    expect(runner).toMatchObject({ owner: dana.id, role: 'deployer', models: ['iris'] });
    expect(t.state('prod').members.find((m) => m.name === 'ci-iris')).toMatchObject({ owner: dana.id });
    // A key belongs to a person, and to one still in the group.
    await expect(t.access.addMember({ name: 'ci-2', publicKey: publicKey('ci2'), role: 'deployer', owner: runner.id })).rejects.toThrow(/ci-iris is a CI runner’s key itself/);
    await expect(t.access.addMember({ name: 'ci-3', publicKey: publicKey('ci3'), role: 'deployer', owner: 'm_0000000000' })).rejects.toThrow(/is not in group "prod"/);
    t.calls.length = 0;
    const removed = await t.access.removeMember(dana.id, { withOwned: true });
    expect(t.calls).toEqual([
      {
        kind: 'revoke',
        group: 'prod',
        what: 'member Dana removed with ci-iris',
        team: true,
        revocations: [dana.id, runner.id].map((id) => ({ kind: 'member', id, at: NOW.toISOString(), by: 'alice' })),
      },
    ]);
    expect(t.state('prod').members).toEqual([]);
    expect(removed.members).toEqual([]);
    expect(t.audit.list({ action: 'member.remove' })[0]).toMatchObject({ target: 'Dana', details: { alsoRemoved: ['ci-iris'] } });
  });

  it('offboards only the person when not asked to remove their CI keys', async () => {
    const t = setup();
    const dana = (await t.access.addMember({ name: 'Dana', publicKey: dan, role: 'admin' })).members[0];
    await t.access.addMember({ name: 'ci-iris', publicKey: vera, role: 'deployer', owner: dana.id });
    const removed = await t.access.removeMember(dana.id);
    expect(removed.members.map((m) => m.name)).toEqual(['ci-iris']);
  });

  it('shows an offboarding that no revision recorded yet as done, and says why it is partial', async () => {
    const t = setup();
    const { members } = await t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer' });
    t.leaveUnrecorded('group lock held by bob');
    const removed = await t.access.removeMember(members[0].id);
    expect(removed.members).toEqual([]);
    expect(removed.push.note).toMatch(/^Removed at once on the servers that answered.*group lock held by bob/);
    expect(t.audit.list({ action: 'member.remove' })[0].result).toBe('partial');
  });

  it('pushes the team again group by group, one report line per server', async () => {
    const t = setup({ prod: ['tb1', 'tb2'], staging: ['tb2', 'tb3'] });
    await t.access.addMember({ name: 'Vera', publicKey: vera, role: 'viewer', group: 'prod' });
    await t.access.addMember({ name: 'Dan', publicKey: dan, role: 'admin', group: 'staging' });
    t.calls.length = 0;
    t.failOn('tb3', 'tb3 is unreachable');
    const report = await t.access.push();
    expect(t.calls).toEqual([
      { kind: 'change', group: 'prod', what: 'team pushed again', team: true },
      { kind: 'change', group: 'staging', what: 'team pushed again', team: true },
    ]);
    expect(report.servers.map((s) => `${s.server}:${s.ok}:${s.members}${s.error ? `:${s.error}` : ''}`)).toEqual(['tb1:true:1', 'tb2:true:2', 'tb3:false:0:staging: tb3 is unreachable']);
    expect(t.audit.list({ action: 'team.push' })[0]).toMatchObject({ result: 'partial', details: { groups: ['prod', 'staging'] } });
  });
});

describe('locks', () => {
  const lockLines = [
    `/var/lib/berth/lock/iris\t{"holder":"carol","machine":"carol-laptop","message":"deploying v4","since":"2030-01-01T10:00:00Z","token":"t1"}`,
    `/var/lib/berth/lock/iris.stale.123\t`,
    `/var/lib/berth/groups/prod/lock\t{"holder":"dan","machine":"dan-pc","message":"prod: key created","since":"2030-01-01T10:00:01Z","token":"t2"}`,
    `/var/lib/berth/lock/churn\tnot json`,
  ].join('\n');

  it('lists model and group locks with one command per server', async () => {
    const t = setup({ prod: ['tb1', 'tb2'] }, [[(c) => c === String(listLocks(layout)), (_c) => ({ stdout: `${lockLines}\n` })]]);
    const report = await t.access.locks();
    expect(report.errors).toEqual([]);
    expect(report.locks.map((l) => `${l.model} ${l.server} ${l.holder}`)).toEqual(['churn tb1 null', 'churn tb2 null', 'group:prod tb1 dan', 'group:prod tb2 dan', 'iris tb1 carol', 'iris tb2 carol']);
    expect(report.locks.find((l) => l.model === 'iris')).toEqual({ serverId: t.idOf('tb1'), server: 'tb1', model: 'iris', holder: 'carol', machine: 'carol-laptop', message: 'deploying v4', since: '2030-01-01T10:00:00Z' });
    expect(t.shells.get(t.idOf('tb1'))!.commands).toEqual([String(listLocks(layout))]);
  });

  it('reports a server it could not ask', async () => {
    const t = setup({ prod: ['tb1', 'tb2'] }, [[(c) => c === String(listLocks(layout)), { code: 1, stderr: 'permission denied' }]]);
    const report = await t.access.locks();
    expect(report.errors.map((e) => e.server)).toEqual(['tb1', 'tb2']);
    expect(report.errors[0].error).toMatch(/permission denied/);
  });

  it('breaks a model lock or a group lock on every server with the lock-breaking command, audited', async () => {
    const t = setup({ prod: ['tb1', 'tb2'] }, [
      [(c) => c === String(listLocks(layout)), { stdout: `${lockLines}\n` }],
      [(c) => c === String(breakLock(modelLock(layout, 'iris'))), { stdout: 'held\n' }],
    ]);
    const report = await t.access.breakLock('iris');
    expect(report.servers.map((s) => `${s.server}:${s.ok}:${s.held}`)).toEqual(['tb1:true:true', 'tb2:true:true']);
    expect(t.shells.get(t.idOf('tb2'))!.commands.at(-1)).toBe(String(breakLock(modelLock(layout, 'iris'))));
    const [entry] = t.audit.list({ action: 'lock.break' });
    expect(entry.details).toMatchObject({ servers: ['tb1:broken', 'tb2:broken'], held: [expect.objectContaining({ server: 'tb1', holder: 'carol' }), expect.objectContaining({ server: 'tb2', holder: 'carol' })] });

    await t.access.breakLock('group:prod');
    expect(t.shells.get(t.idOf('tb1'))!.commands.at(-1)).toBe(String(breakLock(groupLock(layout, 'prod'))));
    await expect(t.access.breakLock('../etc')).rejects.toThrow(BerthError);
  });
});
