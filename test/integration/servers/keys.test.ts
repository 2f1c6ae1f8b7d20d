import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../../electron/main/app';
import { loadBed } from '../bed';

const bed = loadBed();
const [rsaServer, lockedServer] = bed.servers;
const berth = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-keys-')), mode: 'cli', version: 'test' });
/** Stands in for the user's home folder, so `~/.ssh/…` names the keys made here. */
const userHome = mkdtempSync(join(tmpdir(), 'berth-keys-home-'));
const rsaKey = join(userHome, '.ssh', 'id_rsa');
const lockedKey = join(userHome, '.ssh', 'id_locked');
const PASSPHRASE = 'correct horse battery';
/** Marks the lines this file adds to root's authorized_keys on the bed servers, to remove exactly them afterwards. */
const marker = `berth-test-keys-${process.pid}`;
const realHome = process.env.HOME;

const ssh = (server: string, ...args: string[]) => spawnSync('ssh', ['-F', bed.sshConfig, ...args, server, 'true'], { encoding: 'utf8', timeout: 30_000 });
const onServer = (server: string, script: string) => execFileSync('ssh', ['-F', bed.sshConfig, server, script], { timeout: 30_000 });

beforeAll(() => {
  mkdirSync(join(userHome, '.ssh'));
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', marker, '-f', rsaKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-C', marker, '-f', lockedKey]);
  const lines = [rsaKey, lockedKey].map((k) => readFileSync(`${k}.pub`, 'utf8').trim()).join('\n');
  for (const server of [rsaServer, lockedServer]) onServer(server.name, `printf '%s\\n' '${lines}' >> /root/.ssh/authorized_keys`);
  process.env.HOME = userHome;
});
afterAll(() => {
  process.env.HOME = realHome;
  for (const server of [rsaServer, lockedServer]) onServer(server.name, `sed -i '/${marker}/d' /root/.ssh/authorized_keys`);
  berth.close();
});

async function call(name: string, input: unknown) {
  const result = await berth.dispatcher.call(name, input);
  if (!result.ok) throw Object.assign(new Error(result.error.message), result.error);
  return result.value as any;
}

const addInput = (server: (typeof bed.servers)[number], auth: unknown) => ({
  name: server.name,
  host: server.host,
  port: server.port,
  username: server.user,
  auth,
  hostKeyFingerprint: server.hostKeyFingerprint,
});

describe('login keys', () => {
  it('registers a server with an RSA key named by ~/…, signing with rsa-sha2 (the server refuses ssh-rsa)', async () => {
    // The bed's OpenSSH accepts this key, but not with SHA-1 signatures: only rsa-sha2-256/512 can log in.
    expect(ssh(rsaServer.name, '-i', rsaKey, '-o', 'PubkeyAcceptedAlgorithms=ssh-rsa').status).not.toBe(0);
    expect(ssh(rsaServer.name, '-i', rsaKey, '-o', 'PubkeyAcceptedAlgorithms=rsa-sha2-256').status).toBe(0);
    const added = await call('servers.add', addInput(rsaServer, { type: 'keyFile', path: '~/.ssh/id_rsa' }));
    expect(added).toMatchObject({ name: rsaServer.name, state: 'up', keyOrigin: rsaKey });
  });

  it('says an encrypted key needs its passphrase, or that the passphrase is wrong, and logs in with the right one', async () => {
    const auth = { type: 'keyFile', path: '~/.ssh/id_locked' };
    await expect(call('servers.add', addInput(lockedServer, auth))).rejects.toMatchObject({
      kind: 'SshAuthError',
      message: `The private key ${lockedKey} is encrypted: give its passphrase.`,
    });
    await expect(call('servers.add', addInput(lockedServer, { ...auth, passphrase: 'not it' }))).rejects.toMatchObject({
      kind: 'SshAuthError',
      message: `Wrong passphrase for the private key ${lockedKey}.`,
    });
    const added = await call('servers.add', addInput(lockedServer, { ...auth, passphrase: PASSPHRASE }));
    expect(added).toMatchObject({ name: lockedServer.name, state: 'up', keyOrigin: lockedKey });
  });

  it('switches to an encrypted key named by ~/… with its passphrase', async () => {
    const [rsa] = (await call('servers.list', {})).filter((s: any) => s.name === rsaServer.name);
    const switchTo = (passphrase?: string) => call('servers.switchKey', { serverIds: [rsa.id], auth: { type: 'keyFile', path: '~/.ssh/id_locked', passphrase } });
    await expect(switchTo()).rejects.toMatchObject({ kind: 'SshAuthError', message: expect.stringContaining('is encrypted: give its passphrase') });
    const switched = await switchTo(PASSPHRASE);
    expect(switched.servers).toMatchObject([{ name: rsaServer.name, keyOrigin: lockedKey }]);
    expect((await call('servers.test', { id: rsa.id })).state).toBe('up');
  });
});
