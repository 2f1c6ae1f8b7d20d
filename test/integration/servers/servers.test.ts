import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../../electron/main/app';
import { loadBed } from '../bed';

const bed = loadBed();
const home = mkdtempSync(join(tmpdir(), 'berth-servers-'));
// Group state of its own below each server's /root: a fresh data folder attaches to every group the bed's shared
// /var/lib/berth holds (other test files' groups), and this file counts the groups its servers belong to.
const remoteBase = `/root/.berth-test-servers-${process.pid}`;
process.env.BERTH_REMOTE_DIR = `${remoteBase}/var`;
const berth = createBerth({ home, mode: 'cli', version: 'test' });
delete process.env.BERTH_REMOTE_DIR;
const { dispatcher } = berth;
afterAll(() => {
  for (const s of bed.servers) spawnSync('ssh', ['-F', bed.sshConfig, s.name, `rm -rf ${remoteBase}`], { stdio: 'ignore', timeout: 30_000 });
  berth.close();
});

async function call(name: string, input: unknown) {
  const result = await dispatcher.call(name, input);
  if (!result.ok) throw Object.assign(new Error(result.error.message), result.error);
  return result.value as any;
}

const addInput = (i: number, fingerprint = bed.servers[i].hostKeyFingerprint) => ({
  name: bed.servers[i].name,
  host: bed.servers[i].host,
  port: 22,
  username: 'root',
  auth: { type: 'keyFile', path: bed.clientKey },
  hostKeyFingerprint: fingerprint,
});

describe('server registry on the test bed', () => {
  it('shows the host key to accept before anything is registered', async () => {
    const key = await call('servers.probeHostKey', { host: bed.servers[0].host });
    expect(key).toEqual({ host: bed.servers[0].host, port: 22, keyType: 'ssh-ed25519', fingerprint: bed.servers[0].hostKeyFingerprint });
    expect(await call('servers.list', {})).toEqual([]);
  });

  it('refuses to add a server presenting a different key than the one accepted', async () => {
    const error = await call('servers.add', addInput(0, bed.servers[1].hostKeyFingerprint)).catch((e) => e);
    expect(error.kind).toBe('HostKeyMismatch');
    expect(await call('servers.list', {})).toEqual([]);
  });

  it('adds servers after proving key and host key, and reports their facts', async () => {
    const added = await call('servers.add', addInput(0));
    expect(added).toMatchObject({ name: 'tb1', state: 'up', hostKeyFingerprint: bed.servers[0].hostKeyFingerprint });
    expect(added.facts.engineVersion).toMatch(/^\d+\./);
    expect(added.facts.cpus).toBeGreaterThan(0);
    expect(added.facts.memoryBytes).toBeGreaterThan(0);
    expect(added.facts.diskFreeBytes).toBeGreaterThan(0);
    expect(added.facts.gpus).toEqual([]);
    await call('servers.add', addInput(1));
    const tested = await call('servers.test', { id: added.id });
    expect(tested.state).toBe('up');
    expect((await berth.services.status.snapshot()).servers).toEqual({ up: 2, total: 2 });
  });

  it('never stores the private key in clear in the database', async () => {
    const { readFileSync } = await import('node:fs');
    const key = readFileSync(bed.clientKey, 'utf8');
    const marker = key.split('\n')[1];
    const dbBytes = readFileSync(join(home, 'berth.db')).toString('latin1') + readFileSync(join(home, 'berth.db-wal')).toString('latin1');
    expect(dbBytes).not.toContain(marker);
  });

  it('refuses a duplicate and a non-key file with clear messages', async () => {
    expect((await call('servers.add', addInput(0)).catch((e) => e)).kind).toBe('Conflict');
    const pub = join(home, 'id.pub');
    writeFileSync(pub, bed.clientPublicKey ?? 'ssh-ed25519 AAAA');
    const error = await call('servers.add', { ...addInput(2), auth: { type: 'keyFile', path: pub } }).catch((e) => e);
    expect(error.message).toMatch(/not a private key file/);
  });

  it('groups servers and protects grouped servers from removal', async () => {
    const servers = await call('servers.list', {});
    const group = await call('groups.create', { name: 'prod', replicas: 2, tls: 'off' });
    const updated = await call('groups.update', { id: group.id, serverIds: servers.map((s: any) => s.id) });
    expect(updated.serverIds).toHaveLength(2);
    const refused = await call('servers.remove', { id: servers[0].id }).catch((e) => e);
    expect(refused).toMatchObject({ kind: 'Conflict', message: expect.stringMatching(/from its groups \(prod\)/) });
    await call('groups.update', { id: group.id, serverIds: [servers[1].id] });
    expect(await call('servers.remove', { id: servers[0].id })).toHaveLength(1);
  });

  it('imports concrete hosts from an ssh config file', async () => {
    const hosts = await call('servers.importSshConfig', { path: bed.sshConfig });
    expect(hosts.map((h: any) => h.alias)).toEqual(bed.servers.map((s) => s.name));
    expect(hosts[0]).toMatchObject({ host: bed.servers[0].host, username: 'root', identityFile: bed.clientKey });
  });
});
