import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import type { GroupState, StateKey, StateMember } from '../../../shared/group-state';
import { checkCopy } from '../../../electron/main/services/groups/copies';
import * as remote from '../../../electron/main/services/groups/remote';
import { createServerForgetting } from '../../../electron/main/services/groups/forget';
import { createGroupStateService, type GroupStateService } from '../../../electron/main/services/groups/service';
import { defaultLayout, groupLock, modelLock } from '../../../electron/main/services/remote/layout';
import { createServerRegistry, type ServerRegistry } from '../../../electron/main/services/servers/registry';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { RecordingShell, runLocally } from '../support/recording-shell';

/**
 * The group-state service against three fake servers: each a temporary folder, each command run for real by a
 * local sh (the service's layout names a placeholder folder that each fake server maps onto its own), recorded
 * by a RecordingShell. Two data folders (two SQLite files) share the three servers.
 */

const PLACEHOLDER = '/berth-under-test';
const layout = { ...defaultLayout, berthDir: PLACEHOLDER };
const LOCK = groupLock(layout, 'team');

interface Fake {
  root: string;
  dirs: string[];
  down: Set<number>;
  /** Servers (by index) whose connection dies once they are locked: their read of the group fails. */
  dying: Set<number>;
  env: NodeJS.ProcessEnv;
}

function fakeServers(): Fake {
  const root = mkdtempSync(join(tmpdir(), 'berth-groups-service-'));
  const bin = join(root, 'bin');
  mkdirSync(bin);
  // No gateway runs on a fake server: `docker inspect` answers nothing, so no table switch is awaited.
  writeFileSync(join(bin, 'docker'), '#!/bin/sh\nexit 1\n');
  chmodSync(join(bin, 'docker'), 0o755);
  return { root, dirs: [1, 2, 3].map((n) => join(root, `srv${n}`)), down: new Set(), dying: new Set(), env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } };
}

interface Folder {
  db: Db;
  registry: ServerRegistry;
  groups: GroupStateService;
  shells: RecordingShell[];
  teams: Array<{ server: string; members: string[] }>;
}

const opened: Db[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});

/** One data folder (Berth) that registered the three fake servers; `group` puts them in group `team`. */
function dataFolder(fake: Fake, holder: string, options: { group?: boolean; lockWaitMs?: number; folder?: string } = {}): Folder {
  const db = openDatabase(join(mkdtempSync(join(fake.root, `home-${holder}-`)), 'berth.db'));
  opened.push(db);
  const registry = createServerRegistry(db);
  const ids = fake.dirs.map(
    (_, i) =>
      registry.insert({
        name: `tb${i + 1}`,
        host: `10.0.0.${i + 1}`,
        port: 22,
        username: 'root',
        auth: 'agent',
        keySecretId: null,
        keyOrigin: null,
        hostKeyType: 'ssh-ed25519',
        hostKeyFingerprint: `SHA256:tb${i + 1}`,
      }).id,
  );
  if (options.group !== false) registry.updateGroup(registry.createGroup('team', 1).id, { serverIds: ids });
  const shells = fake.dirs.map(
    (dir, i) =>
      new RecordingShell(
        [
          [(command) => fake.dying.has(i) && command.startsWith(prefixOf(remote.listGroups(layout, 'team'))), { code: 255, stderr: 'SSH channel failed: No response from server' }],
          [() => true, (command, stdin) => runLocally(command.replaceAll(PLACEHOLDER, dir), stdin ?? '', fake.env)],
        ],
        { host: `10.0.0.${i + 1}` },
      ),
  );
  const teams: Folder['teams'] = [];
  const groups = createGroupStateService({
    db,
    registry,
    layout,
    actor: () => ({ holder, machine: 'laptop' }),
    lockWaitMs: options.lockWaitMs ?? 10_000,
    folder: options.folder,
    connection: async (id) => {
      if (fake.down.has(id)) throw new BerthError('SshUnreachable', `tb${id} did not answer`);
      return shells[id - 1].connection;
    },
    applyTeam: async (ssh, members: StateMember[]) => void teams.push({ server: ssh.target.host, members: members.map((m) => m.id) }),
  });
  return { db, registry, groups, shells, teams };
}


const ids = (f: Folder) => f.registry.group('team').serverIds;
const stateFile = (fake: Fake, i: number) => join(fake.dirs[i], 'groups/team/state.json');
const copyOn = (fake: Fake, i: number) => checkCopy('team', readFileSync(stateFile(fake, i), 'utf8').trimEnd());
const routesOn = (fake: Fake, i: number) => JSON.parse(readFileSync(join(fake.dirs[i], 'gateway/routes.json'), 'utf8'));

function key(id: string, extra: Partial<StateKey> = {}): StateKey {
  return { id, name: id, sha256: createHash('sha256').update(id).digest('hex'), scope: { kind: 'all' }, expiresAt: null, createdBy: 'alice', createdAt: '2026-12-01T10:00:00Z', revokedAt: null, revokedBy: null, ...extra };
}

const liveModel = (uids: string[]): GroupState['models'][string] => ({
  public: false,
  keepVersions: 5,
  createdBy: 'alice',
  createdAt: '2026-12-01T10:00:00Z',
  aliases: { latest: 1 },
  versions: [
    {
      number: 1,
      imageRef: 'berth/iris:1',
      imageId: 'sha256:1',
      notebookHash: null,
      dockerfile: null,
      requirements: null,
      createdBy: 'alice',
      createdAt: '2026-12-01T10:00:00Z',
      state: 'live',
      resources: { replicas: 1, memoryMb: 256, cpus: 1 },
      placements: Object.fromEntries(uids.map((u) => [u, [{ name: 'berth-iris-v1-r1', port: 9100 }]])),
    },
  ],
});

/** The script part of a builder's command (`sh -c '<script>' sh`), to tell recorded commands apart. */
const prefixOf = (command: unknown) => {
  const text = String(command);
  return text.slice(0, text.indexOf("' sh ") + 4);
};
const KINDS: Array<[string, string]> = [
  ['identify', prefixOf(remote.identifyAndList(layout, 'srv_0000000000000000'))],
  ['acquire', prefixOf(remote.acquireLock(LOCK, 'x', 1))],
  ['release', prefixOf(remote.releaseLock(LOCK, 'x'))],
  ['list', prefixOf(remote.listGroups(layout, 'team'))],
  ['write', prefixOf(remote.writeState(layout, 'team', 'none', 0))],
  ['revoke', prefixOf(remote.appendRevocations(layout, 'team'))],
  ['routes', prefixOf(remote.applyRoutes(layout, `${PLACEHOLDER}/gateway`, 'berth-gateway', 'x'))],
];
const kinds = (shell: RecordingShell) => shell.commands.map((c) => KINDS.find(([, p]) => c.startsWith(p))?.[0] ?? c);

describe('change', () => {
  it('publishes revision 1 to every server under the group lock, derives each table, caches it, releases', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    const commit = await a.groups.change('team', 'add a key', (state) => {
      state.keys.push(key('key_01'));
      return 'done';
    });
    expect(commit.result).toBe('done');
    expect(commit.file.revision).toMatchObject({ revision: 1, prev: null, group: 'team', change: 'add a key', by: { holder: 'alice', machine: 'laptop' } });
    expect(commit.servers.map((s) => [s.server, s.ok])).toEqual(expect.arrayContaining([['tb1', true], ['tb2', true], ['tb3', true]]));
    const uids = a.registry.list().map((s) => s.uid);
    expect(new Set(uids).size).toBe(3);
    expect(commit.file.revision.state.servers.map((s) => s.uid).sort()).toEqual([...uids].sort());

    for (let i = 0; i < 3; i++) {
      expect(copyOn(fake, i)).toMatchObject({ ok: true, file: commit.file });
      expect(routesOn(fake, i)).toMatchObject({ models: {}, keys: [{ id: 'key_01', models: [], versions: null, expiresAt: null }] });
      expect(existsSync(join(fake.dirs[i], 'groups/team/lock'))).toBe(false);
      expect(kinds(a.shells[i])).toEqual(['identify', 'acquire', 'list', 'write', 'routes', 'release']);
    }
    // The exact command for the lock's note and the write: the group's lock folder, 120 s, the digest read.
    const acquire = a.shells[0].commands[1];
    const note = JSON.parse(/ sh \S+ '(\{.*\})' 120$/.exec(acquire)![1]);
    expect(note).toMatchObject({ holder: 'alice', machine: 'laptop', message: 'team: add a key' });
    expect(acquire).toBe(String(remote.acquireLock(LOCK, JSON.stringify(note), 120)));
    expect(a.shells[0].recorded[3]).toMatchObject({ command: String(remote.writeState(layout, 'team', 'none', 0)), stdin: readFileSync(stateFile(fake, 0), 'utf8') });
    expect(a.shells[0].commands[5]).toBe(String(remote.releaseLock(LOCK, note.token)));
    expect(a.registry.group('team')).toMatchObject({ revision: 1, changedBy: 'alice@laptop' });
  });

  it('numbers revisions on and chains them by hash', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    const r1 = await a.groups.change('team', 'one', () => undefined);
    const r2 = await a.groups.change('team', 'two', (s) => void s.keys.push(key('key_02')));
    expect(r2.file.revision).toMatchObject({ revision: 2, prev: r1.file.hash });
    expect(a.shells[0].commands).toContain(String(remote.writeState(layout, 'team', copyDigestOf(r1.file), 1)));
    expect(readdirSync(join(fake.dirs[1], 'groups/team/history'))).toEqual(['1.json']);
  });

  it('two data folders changing at once: one waits for the other, no write is lost', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    const b = dataFolder(fake, 'bob', { group: false });
    await b.groups.attach();
    const results = await Promise.all([
      a.groups.change('team', 'alice adds', (s) => void s.keys.push(key('key_0a'))),
      b.groups.change('team', 'bob adds', (s) => void s.keys.push(key('key_0b'))),
    ]);
    expect(results.map((r) => r.file.revision.revision).sort()).toEqual([2, 3]);
    for (let i = 0; i < 3; i++) {
      const copy = copyOn(fake, i);
      expect(copy.ok && copy.file.revision.revision).toBe(3);
      expect(copy.ok && copy.file.revision.state.keys.map((k) => k.id).sort()).toEqual(['key_0a', 'key_0b']);
    }
    const [first, second] = [...results].sort((x, y) => x.file.revision.revision - y.file.revision.revision);
    expect(second.file.revision.prev).toBe(first.file.hash);
  });

  it('with one of three servers down: written to the two others; with two down: refused, nothing written', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    fake.down.add(ids(a)[2]);
    const commit = await a.groups.change('team', 'two of three', (s) => void s.keys.push(key('key_03')));
    expect(commit.servers.find((s) => s.server === 'tb3')).toMatchObject({ ok: false, error: 'tb3 did not answer' });
    expect(copyOn(fake, 0)).toMatchObject({ ok: true, file: commit.file });
    expect(copyOn(fake, 2)).toMatchObject({ ok: true, file: { revision: { revision: 1 } } });

    fake.down.add(ids(a)[1]);
    const refused = await a.groups.change('team', 'one of three', (s) => void s.keys.push(key('key_04'))).catch((e) => e);
    expect(refused).toBeInstanceOf(BerthError);
    expect(refused.kind).toBe('SshUnreachable');
    expect(refused.message).toMatch(/^Only 1 of 3 servers could be locked; a change needs 2/);
    expect(copyOn(fake, 0)).toMatchObject({ ok: true, file: commit.file });
    expect(existsSync(join(fake.dirs[0], 'groups/team/lock'))).toBe(false);
  });

  it('a server lost after it was locked is left out: the change commits on the majority and reports it', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    fake.dying.add(2);
    const commit = await a.groups.change('team', 'while tb3 dies', (s) => void s.keys.push(key('key_05')));
    expect(commit.file.revision.revision).toBe(2);
    expect(commit.servers.find((s) => s.server === 'tb3')).toMatchObject({ ok: false, error: expect.stringMatching(/No response from server/) });
    expect(copyOn(fake, 1)).toMatchObject({ ok: true, file: commit.file });
    expect(copyOn(fake, 2)).toMatchObject({ ok: true, file: { revision: { revision: 1 } } });
  });

  it('a group lock another Berth holds is waited for (bounded), then refused naming the holder', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice', { lockWaitMs: 1200 });
    await a.groups.change('team', 'create', () => undefined);
    const note = JSON.stringify({ holder: 'carol', machine: 'ci', message: 'team: something slow', since: '2026-12-01T10:00:00Z', token: 'tokC' });
    const dirOf = (i: number) => ({ ...LOCK, dir: join(fake.dirs[i], 'groups/team/lock') });
    for (let i = 0; i < 3; i++) await runLocally(String(remote.acquireLock(dirOf(i), note, 120)));
    const started = Date.now();
    const refused = await a.groups.change('team', 'blocked', () => undefined).catch((e) => e);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(refused.kind).toBe('Conflict');
    expect(refused.message).toMatch(/^Locked on tb\d by carol@ci since 2026-12-01T10:00:00Z \("team: something slow"\)\. Wait for it to finish/);
    // carol's lock is untouched.
    for (let i = 0; i < 3; i++) expect(readFileSync(join(dirOf(i).dir, 'info.json'), 'utf8')).toBe(note);
  });

  it('a lock left by a dead Berth process of the same data folder is freed at once; a live one is waited for', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice', { lockWaitMs: 1200, folder: '/home/alice/berth' });
    await a.groups.change('team', 'create', () => undefined);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const noteOf = (pid: number, folder: string) =>
      JSON.stringify({ holder: 'alice', machine: 'laptop', message: 'team: killed', since: '2026-12-01T10:00:00Z', token: `tok${pid}`, pid, folder });
    const dirOf = (i: number) => ({ ...LOCK, dir: join(fake.dirs[i], 'groups/team/lock') });
    for (let i = 0; i < 3; i++) await runLocally(String(remote.acquireLock(dirOf(i), noteOf(Number(dead.stdout), '/home/alice/berth'), 120)));
    // With a wait of 1.2 s, only freeing the dead process's lock lets this change through.
    await a.groups.change('team', 'after the crash', () => undefined);
    // Another folder's lock, or one whose process still runs, is not this Berth's to free.
    for (let i = 0; i < 3; i++) await runLocally(String(remote.acquireLock(dirOf(i), noteOf(process.ppid, '/home/alice/berth'), 120)));
    expect((await a.groups.change('team', 'blocked', () => undefined).catch((e) => e)).kind).toBe('Conflict');
  });

  it('refuses a change that would make an invalid state, writing nothing', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    const refused = await a.groups.change('team', 'bad', (s) => void (s.settings.replicas = 0)).catch((e) => e);
    expect(refused.kind).toBe('ValidationError');
    expect(refused.message).toMatch(/settings\.replicas/);
    expect(copyOn(fake, 0)).toMatchObject({ ok: true, file: { revision: { revision: 1 } } });
  });

  it('refuses to build on copies older than this Berth already saw (rolled back)', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'one', () => undefined);
    await a.groups.change('team', 'two', () => undefined);
    for (let i = 0; i < 3; i++) writeFileSync(stateFile(fake, i), readFileSync(join(fake.dirs[i], 'groups/team/history/1.json')));
    const refused = await a.groups.change('team', 'three', () => undefined).catch((e) => e);
    expect(refused.kind).toBe('Conflict');
    expect(refused.message).toMatch(/hold revision 1, but this Berth already saw revision 2: their state was rolled back or lost/);
  });
});

const copyDigestOf = (file: { hash: string; revision: unknown }) => {
  const check = checkCopy('team', JSON.stringify(file));
  if (!check.ok) throw new Error(check.problem);
  return check.digest;
};

describe('attach, refresh, poll', () => {
  it('a second data folder that adds the same servers sees the group, its models, versions and keys', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    const uids = a.registry.list().map((s) => s.uid!);
    await a.groups.change('team', 'deploy iris', (s) => {
      s.models.iris = liveModel(uids);
      s.keys.push(key('key_0a', { name: 'billing', scope: { kind: 'model', model: 'iris' } }));
    });
    const b = dataFolder(fake, 'bob', { group: false });
    const report = await b.groups.attach();
    expect(report.problems).toEqual([]);
    expect(report.groups).toEqual([expect.objectContaining({ group: 'team', revision: 2, by: 'alice@laptop' })]);
    expect(b.registry.list().map((s) => s.uid).sort()).toEqual([...uids].sort());
    expect(b.registry.group('team').serverIds).toHaveLength(3);
    expect(b.db.prepare('SELECT name, group_name FROM models').all()).toEqual([{ name: 'iris', group_name: 'team' }]);
    expect(b.db.prepare('SELECT v.number, v.state FROM versions v JOIN models m ON m.id = v.model_id').all()).toEqual([{ number: 1, state: 'live' }]);
    expect(b.db.prepare('SELECT id, name, group_name FROM api_keys').all()).toEqual([{ id: 'key_0a', name: 'billing', group_name: 'team' }]);
    // It continues the numbering.
    const next = await b.groups.change('team', 'bob', () => undefined);
    expect(next.file.revision.revision).toBe(3);
  });

  it('refresh reports a damaged copy; repair writes the current revision over it', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    const commit = await a.groups.change('team', 'create', (s) => void s.keys.push(key('key_01')));
    const text = readFileSync(stateFile(fake, 1), 'utf8');
    writeFileSync(stateFile(fake, 1), text.replace('"holder":"alice"', '"holder":"alicf"'));
    const view = await a.groups.refresh('team');
    expect(view.revision).toBe(1);
    expect(view.copies.map((c) => [c.server, c.state])).toEqual(expect.arrayContaining([['tb1', 'current'], ['tb2', 'damaged'], ['tb3', 'current']]));
    expect(view.copies.find((c) => c.server === 'tb2')?.detail).toBe('revision 1 does not match its hash (damaged or edited)');

    const repaired = await a.groups.repair('team');
    expect(repaired.copies.map((c) => c.state)).toEqual(['current', 'current', 'current']);
    expect(copyOn(fake, 1)).toMatchObject({ ok: true, file: { revision: { revision: 2, prev: commit.file.hash } } });
    // The damaged copy was replaced under the lock with `any`: nothing of it went to history.
    expect(a.shells[1].commands.filter((c) => c.startsWith(prefixOf(remote.writeState(layout, 'team', 'any', 0))))).toContain(String(remote.writeState(layout, 'team', 'any', 0)));
    expect(readdirSync(join(fake.dirs[1], 'groups/team/history'))).toEqual([]);
  });

  it('poll reads only the head of one state file while nothing changed, and refreshes after another Berth wrote', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    const b = dataFolder(fake, 'bob', { group: false });
    await b.groups.attach();

    const before = b.shells.map((s) => s.commands.length);
    expect((await b.groups.poll()).map((v) => v.revision)).toEqual([1]);
    const sent = b.shells.flatMap((s, i) => s.commands.slice(before[i]));
    expect(sent).toEqual([`head -c 90 ${PLACEHOLDER}/groups/team/state.json`]);

    await a.groups.change('team', 'alice again', (s) => void s.keys.push(key('key_0a')));
    const [view] = await b.groups.poll();
    expect(view).toMatchObject({ group: 'team', revision: 2, by: 'alice@laptop' });
    expect(b.db.prepare('SELECT id FROM api_keys').all()).toEqual([{ id: 'key_0a' }]);
  });
});

describe('revoke', () => {
  it('takes a key away at once on every reachable server, then records it in a revision', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', (s) => void s.keys.push(key('key_0a'), key('key_0b')));
    fake.down.add(ids(a)[2]);
    const revocation = { kind: 'key' as const, id: 'key_0a', at: '2026-12-01T12:00:00Z', by: 'alice' };
    const outcome = await a.groups.revoke('team', [revocation], 'revoke key_0a', (s) => {
      const k = s.keys.find((x) => x.id === 'key_0a')!;
      k.revokedAt = revocation.at;
      k.revokedBy = 'alice';
    });
    expect(outcome.recorded).toEqual({ revision: 2, error: null });
    expect(outcome.servers.map((s) => [s.server, s.ok])).toEqual(expect.arrayContaining([['tb1', true], ['tb2', true], ['tb3', false]]));
    for (const i of [0, 1]) {
      expect(routesOn(fake, i).keys.map((k: { id: string }) => k.id)).toEqual(['key_0b']);
      expect(readFileSync(join(fake.dirs[i], 'groups/team/revoked.jsonl'), 'utf8')).toBe(`${JSON.stringify(revocation)}\n`);
      // The revocation file was appended (and a table derived) before the revision was written.
      const k = kinds(a.shells[i]).slice(6);
      expect(k.indexOf('revoke')).toBeLessThan(k.indexOf('write'));
    }
    // The server that was down still has revision 1 and its old table; its copy is behind.
    expect(routesOn(fake, 2).keys.map((k: { id: string }) => k.id)).toEqual(['key_0a', 'key_0b']);
    fake.down.clear();
    const view = await a.groups.refresh('team');
    expect(view.copies.find((c) => c.server === 'tb3')).toMatchObject({ state: 'behind', revision: 1 });
  });

  it('applies at once even when no majority answers; the report says it was not recorded', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', (s) => void s.keys.push(key('key_0a')));
    fake.down.add(ids(a)[1]);
    fake.down.add(ids(a)[2]);
    const outcome = await a.groups.revoke('team', [{ kind: 'key', id: 'key_0a', at: '2026-12-01T12:00:00Z', by: 'alice' }], 'revoke', () => undefined);
    expect(outcome.recorded.revision).toBeNull();
    expect(outcome.recorded.error).toMatch(/could be locked/);
    expect(routesOn(fake, 0).keys).toEqual([]);
  });
});

describe('model lock', () => {
  it('a second operation on the same model is refused at once, naming the holder; the lock is released after', async () => {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    const b = dataFolder(fake, 'bob', { group: false });
    await b.groups.attach();

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let token = '';
    const first = a.groups.withModelLock('team', 'iris', 'deploy iris', async (t) => {
      token = t;
      await held;
      return 'deployed';
    });
    while (!token) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    const refused = await b.groups.withModelLock('team', 'iris', 'deploy iris too', async () => 'never').catch((e) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(refused.kind).toBe('Conflict');
    expect(refused.message).toMatch(/^Locked on tb\d by alice@laptop since \S+ \("deploy iris"\)/);
    // Another model is not blocked.
    expect(await b.groups.withModelLock('team', 'other', 'deploy other', async () => 'ok')).toBe('ok');

    // Bob's failed attempt left alice's lock on every server.
    for (let i = 0; i < 3; i++) expect(readFileSync(join(fake.dirs[i], 'lock/iris/info.json'), 'utf8')).toContain(`"token":"${token}"`);
    await b.groups.releaseModelLock(ids(b), 'iris', 'not-the-token');
    for (let i = 0; i < 3; i++) expect(existsSync(join(fake.dirs[i], 'lock/iris'))).toBe(true);

    release();
    expect(await first).toBe('deployed');
    for (let i = 0; i < 3; i++) expect(existsSync(join(fake.dirs[i], 'lock/iris'))).toBe(false);
    expect(a.shells[0].commands).toContain(String(remote.releaseLock(modelLock(layout, 'iris'), token)));
    expect(await b.groups.withModelLock('team', 'iris', 'now', async () => 'mine')).toBe('mine');
  });
});

describe('forgetting a server gone for good', () => {
  async function withIrisEverywhere() {
    const fake = fakeServers();
    const a = dataFolder(fake, 'alice');
    await a.groups.change('team', 'create', () => undefined);
    const uids = ids(a).map((id) => a.registry.get(id).uid!);
    await a.groups.change('team', 'deploy iris', (s) => {
      s.models.iris = liveModel(uids);
      // tb3 was lost a while ago: tb1 runs a stand-in for its replica.
      s.models.iris.versions[0].placements[uids[0]].push({ name: 'berth-iris-v1-r101', port: 9101, standsInFor: uids[2] });
    });
    const forgetting = createServerForgetting({ db: a.db, registry: a.registry, groups: a.groups, reachable: async (id) => !fake.down.has(id) });
    return { fake, a, uids, forgetting, tb3: ids(a)[2] };
  }

  it('a dead server holding replicas is refused by remove with what to do, never a raw constraint error', async () => {
    const { a, tb3 } = await withIrisEverywhere();
    a.registry.updateGroup(a.registry.group('team').id, { serverIds: ids(a).filter((id) => id !== tb3) });
    const error = (() => {
      try {
        a.registry.remove(tb3);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toMatchObject({ kind: 'Conflict', message: 'tb3 still holds replicas of iris v1: deploy those versions again without it, or, if it is gone for good, forget it (`berth servers forget tb3`, or Forget on the Servers page)' });
  });

  it('it leaves the group on the others, its placements go, stand-ins for it stay as replicas; then its row can go', async () => {
    const { fake, a, uids, forgetting, tb3 } = await withIrisEverywhere();
    fake.down.add(tb3);
    const report = await forgetting.forget(tb3);
    expect(report).toEqual([
      'group team: tb3 left it in revision 3',
      '  iris v1 (live): 1 replica on tb3 no longer placed; 3 on the other servers (1 of them stood in for tb3 and now stays)',
      'tb3 is forgotten. If it ever comes back, its containers still run there: remove them (docker rm -f $(docker ps -aq --filter label=berth.model)).',
    ]);
    for (const i of [0, 1]) {
      const copy = copyOn(fake, i);
      if (!copy.ok) throw new Error('no copy');
      expect(copy.file.revision.state.servers.map((s) => s.uid)).toEqual(uids.slice(0, 2));
      expect(copy.file.revision.state.models.iris.versions[0].placements).toEqual({
        [uids[0]]: [{ name: 'berth-iris-v1-r1', port: 9100 }, { name: 'berth-iris-v1-r101', port: 9101 }],
        [uids[1]]: [{ name: 'berth-iris-v1-r1', port: 9100 }],
      });
      expect(routesOn(fake, i).models.iris).toBeDefined();
    }
    expect(a.registry.group('team').serverIds).toEqual(ids(a).slice(0, 2));
    a.registry.remove(tb3);
    expect(a.registry.list().map((s) => s.name)).toEqual(['tb1', 'tb2']);
  });

  it('a server that answers is not forgotten', async () => {
    const { a, forgetting, tb3 } = await withIrisEverywhere();
    await expect(forgetting.forget(tb3)).rejects.toMatchObject({ kind: 'Conflict', message: expect.stringMatching(/^tb3 answers, so it is not forgotten: take it out of its groups \(team\)/) });
    expect(a.registry.group('team').serverIds).toHaveLength(3);
  });
});
