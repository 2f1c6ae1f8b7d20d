import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../../electron/main/app';
import { createAuditService } from '../../../electron/main/services/access/audit/service';
import { acquireLock } from '../../../electron/main/services/groups/remote';
import { groupLock, modelLock } from '../../../electron/main/services/remote/layout';
import { bed, createTestBerth, testLayout, type TestBerth } from './helpers';

const layout = testLayout('audit');
const file = `${layout.berthDir}/audit/audit.jsonl`;
let alice: TestBerth;
let bob: TestBerth;

beforeAll(async () => {
  alice = createTestBerth(layout, { actor: 'alice', machine: 'alice-laptop' });
  bob = createTestBerth(layout, { actor: 'bob', machine: 'bob-desktop' });
  await alice.addServers();
  await bob.addServers();
});

afterAll(async () => {
  try {
    for (const s of bed.servers) await alice?.root(s.name, `rm -rf ${layout.base}`);
  } finally {
    alice?.close();
    bob?.close();
  }
});

const lines = async (server: string) => (await alice.root(server, `cat ${file}`)).stdout.toString().trim().split('\n');
const serverIds = () => alice.registry.list().map((s) => s.id);

describe('audit log on every server', () => {
  it('appends each entry to every server’s file, chained there, and records where it went', async () => {
    const entry = await alice.audit.record({ action: 'key.create', target: 'key_0a1b2c', details: { name: 'billing' } });
    expect(entry.deliveries.map((d) => [d.server, d.state, d.remoteSeq])).toEqual([
      ['tb1', 'delivered', 1],
      ['tb2', 'delivered', 1],
      ['tb3', 'delivered', 1],
    ]);
    await alice.audit.record({ action: 'deploy', target: 'iris v1', details: { group: 'prod' } });
    await alice.audit.record({ action: 'alias', target: 'iris stable → v1' });
    for (const s of bed.servers) {
      const content = await lines(s.name);
      expect(content).toHaveLength(3);
      const first = JSON.parse(content[0]);
      expect(first).toMatchObject({ seq: 1, prev: '0'.repeat(64), entry: { action: 'key.create', actor: 'alice', machine: 'alice-laptop', target: 'key_0a1b2c', result: 'ok' } });
      expect(JSON.parse(content[1]).prev).toBe(first.hash);
    }
    const verified = await alice.audit.verify();
    expect(verified.ok).toBe(true);
    expect(verified.servers.map((s) => [s.server, s.ok, s.entries])).toEqual([
      ['tb1', true, 3],
      ['tb2', true, 3],
      ['tb3', true, 3],
    ]);
  });

  it('keeps one valid chain per server when several Berth instances append to it', async () => {
    await bob.audit.record({ action: 'rollback', target: 'iris v1' });
    await Promise.all([alice.audit.record({ action: 'stop', target: 'iris v2' }), bob.audit.record({ action: 'start', target: 'iris v2' })]);
    for (const s of bed.servers) expect(await lines(s.name)).toHaveLength(6);
    const [a, b] = await Promise.all([alice.audit.verify(), bob.audit.verify()]);
    expect(a.ok && b.ok).toBe(true);
    expect(b.servers.every((s) => s.entries === 6)).toBe(true);
  });

  it('shows which server was tampered with and where its chain breaks', async () => {
    await alice.root('tb2', `sed -i '2s/iris v1/iris v9/' ${file}`); // edit an entry
    await alice.root('tb3', `sed -i '3d' ${file}`); // delete an entry
    const verified = await alice.audit.verify();
    expect(verified.ok).toBe(false);
    expect(verified.local.ok).toBe(true);
    const [tb1, tb2, tb3] = verified.servers;
    expect(tb1).toMatchObject({ server: 'tb1', ok: true, entries: 6 });
    expect(tb2.ok).toBe(false);
    expect(tb2.breaks[0]).toEqual({ position: 2, seq: 2, reason: 'entry 2 was edited: its content does not match its hash' });
    expect(tb3.ok).toBe(false);
    expect(tb3.breaks[0]).toMatchObject({ position: 3, seq: 4 });
    expect(tb3.breaks[0].reason).toMatch(/entry 4 follows entry 2: 1 entry is missing/);
  });

  it('notices a file cut short, which no chain can see on its own', async () => {
    await alice.root('tb1', `sed -i '$d' ${file}`);
    const own = await alice.audit.verifyServer({ id: serverIds()[0], name: 'tb1' });
    const other = await bob.audit.verifyServer({ id: bob.registry.list()[0].id, name: 'tb1' });
    // One of the two instances appended the last line; that one knows it is gone.
    const cut = [own, other].find((v) => !v.ok)!;
    expect(cut.breaks[0].reason).toMatch(/entry 6 \(Berth's #\d\) is missing: the file was cut short/);
  });

  it('delivers entries a server missed, in order, once it can be reached again', async () => {
    const down = new Set<number>();
    const tb3 = alice.registry.list().find((s) => s.name === 'tb3')!;
    const audit = createAuditService({
      db: alice.db,
      servers: () => alice.registry.list().map((s) => ({ id: s.id, name: s.name })),
      connection: (id) => (down.has(id) ? Promise.reject(new Error('tb3 is unreachable (simulated)')) : alice.servers.connection(id)),
      layout,
      actor: () => ({ actor: 'alice', machine: 'alice-laptop' }),
    });
    const before = (await lines('tb3')).length;
    down.add(tb3.id);
    const missed = await audit.record({ action: 'deploy', target: 'iris v3' });
    expect(missed.deliveries.find((d) => d.server === 'tb3')).toMatchObject({ state: 'failed', error: 'tb3 is unreachable (simulated)' });
    await audit.record({ action: 'alias', target: 'iris latest → v3' });
    expect(await lines('tb3')).toHaveLength(before);
    down.delete(tb3.id);
    await audit.sync();
    const after = (await lines('tb3')).slice(before).map((l) => JSON.parse(l).entry.target);
    expect(after).toEqual(['iris v3', 'iris latest → v3']);
    expect(audit.list({ limit: 2 }).every((e) => e.deliveries.every((d) => d.state === 'delivered'))).toBe(true);
  });

  it('lists the model and group locks held across servers and lets an admin break one (audited)', async () => {
    const model = `accesslock${process.pid}`;
    const note = (holder: string, message: string) => JSON.stringify({ holder, machine: `${holder}-laptop`, message, since: '2030-01-01T10:00:00Z', token: `t-${holder}` });
    const [tb1, tb2] = await Promise.all(serverIds().slice(0, 2).map((id) => alice.servers.connection(id)));
    expect((await tb1.run(acquireLock(modelLock(layout, model), note('carol', 'deploying v4'), 0))).trim()).toBe('acquired');
    expect((await tb2.run(acquireLock(groupLock(layout, 'nightly'), note('dave', 'nightly: key created'), 120))).trim()).toBe('acquired');

    const report = await alice.access.locks();
    expect(report.errors).toEqual([]);
    expect(report.locks.map((l) => `${l.model} ${l.server}`)).toEqual([`${model} tb1`, 'group:nightly tb2']);
    expect(report.locks.find((l) => l.model === model)).toMatchObject({ holder: 'carol', machine: 'carol-laptop', message: 'deploying v4', since: '2030-01-01T10:00:00Z' });
    expect(report.locks.find((l) => l.model === 'group:nightly')).toMatchObject({ server: 'tb2', holder: 'dave', message: 'nightly: key created' });

    const broken = await alice.access.breakLock(model);
    expect(broken.servers.map((s) => `${s.server}:${s.ok}:${s.held}`)).toEqual(['tb1:true:true', 'tb2:true:false', 'tb3:true:false']);
    expect((await tb1.exec(`test -d ${modelLock(layout, model).dir}`)).code).not.toBe(0);
    const [entry] = alice.audit.list({ action: 'lock.break' });
    expect(entry).toMatchObject({ actor: 'alice', target: model, result: 'ok' });
    expect(entry.details.held).toContainEqual({ server: 'tb1', holder: 'carol', machine: 'carol-laptop', since: '2030-01-01T10:00:00Z', message: 'deploying v4' });
    expect(entry.details.servers).toEqual(['tb1:broken', 'tb2:free', 'tb3:free']);

    const group = await alice.access.breakLock('group:nightly');
    expect(group.servers.map((s) => `${s.server}:${s.held}`)).toEqual(['tb1:false', 'tb2:true', 'tb3:false']);
    expect((await alice.access.locks()).locks).toEqual([]);
    await expect(alice.access.breakLock('Not A Model')).rejects.toThrow(/not a model name/);
  });

  it('records server add and remove, and settings changes, through the app’s calls', async () => {
    const env = { dir: process.env.BERTH_REMOTE_DIR, lib: process.env.BERTH_REMOTE_LIB };
    process.env.BERTH_REMOTE_DIR = layout.berthDir;
    process.env.BERTH_REMOTE_LIB = layout.libDir;
    const app = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-app-audit-')), mode: 'cli', version: 'test' });
    try {
      const call = async (name: string, input: unknown) => {
        const result = await app.dispatcher.call(name, input);
        if (!result.ok) throw new Error(result.error.message);
        return result.value as any;
      };
      const s = bed.servers[0];
      const added = await call('servers.add', { name: s.name, host: s.host, username: 'root', auth: { type: 'keyFile', path: bed.clientKey }, hostKeyFingerprint: s.hostKeyFingerprint });
      await expect(call('servers.add', { name: 'ghost', host: '127.0.0.1', port: 2, username: 'root', auth: { type: 'keyFile', path: bed.clientKey }, hostKeyFingerprint: s.hostKeyFingerprint })).rejects.toThrow(/Cannot reach/);
      // The entries are recorded after the calls return: wait for tb1's copy before removing tb1.
      const deliveredAdd = async () => ((await call('audit.list', { action: 'server.add' })) as any[]).find((e) => e.target === 'tb1')?.deliveries[0]?.state;
      await expect.poll(deliveredAdd, { timeout: 15_000 }).toBe('delivered');
      await call('servers.remove', { id: added.id });
      await expect.poll(async () => ((await call('audit.list', {})) as any[]).length, { timeout: 15_000 }).toBe(3);
      const entries = (await call('audit.list', {})) as any[];
      expect(entries.map((e) => `${e.action} ${e.target} ${e.result}`)).toEqual(['server.remove tb1 ok', 'server.add ghost failed', 'server.add tb1 ok']);
      expect(entries[2].deliveries).toMatchObject([{ server: 'tb1', state: 'delivered' }]);
      expect(entries[1].details.error).toMatch(/SshUnreachable/);
      const verified = await call('audit.verify', {});
      expect(verified.local).toMatchObject({ ok: true, entries: 3 });
      // Settings every build and gateway start from are audited; the window's theme is not.
      await call('settings.update', { theme: 'light' });
      await call('settings.update', { baseImage: 'registry.local/python:{python}-slim' });
      await expect.poll(async () => ((await call('audit.list', {})) as any[]).length, { timeout: 15_000 }).toBe(4);
      expect((await call('audit.list', {}))[0]).toMatchObject({ action: 'settings.update', target: 'baseImage', result: 'ok', details: { baseImage: 'registry.local/python:{python}-slim' } });
    } finally {
      app.close();
      process.env.BERTH_REMOTE_DIR = env.dir ?? '';
      process.env.BERTH_REMOTE_LIB = env.lib ?? '';
      if (!env.dir) delete process.env.BERTH_REMOTE_DIR;
      if (!env.lib) delete process.env.BERTH_REMOTE_LIB;
    }
  });
});
