import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectSsh } from '../../../electron/main/services/transport/ssh';
import { clientKeyOf, loadBed } from '../bed';

const bed = loadBed();
const [first, second] = bed.servers;
const target = (server = first) => ({ host: server.host, port: server.port, username: server.user, privateKey: clientKeyOf(bed) });

describe('ssh2 to the test bed (real sshd + dockerd per host)', () => {
  it('connects with the pinned host key and runs docker version on the host', async () => {
    const ssh = await connectSsh(target(), { expectedFingerprint: first.hostKeyFingerprint });
    try {
      expect(ssh.hostKey.fingerprint).toBe(first.hostKeyFingerprint);
      const version = await ssh.run("docker version --format '{{.Server.Version}}'");
      expect(version.trim()).toMatch(/^\d+\.\d+/);
      expect((await ssh.run('hostname')).trim()).toBe(first.name);
    } finally {
      ssh.close();
    }
  });

  it('refuses a host whose key does not match the pinned one, naming both fingerprints', async () => {
    const error = await connectSsh(target(), { expectedFingerprint: second.hostKeyFingerprint }).catch((e) => e);
    expect(error.kind).toBe('HostKeyMismatch');
    expect(error.message).toContain(`expected ${second.hostKeyFingerprint}, got ${first.hostKeyFingerprint}`);
    expect(error.message).toMatch(/refused/);
  });

  it('shows the fingerprint to accept for a host not yet known, before sending credentials', async () => {
    const error = await connectSsh(target()).catch((e) => e);
    expect(error.kind).toBe('HostKeyUnknown');
    expect(error.detail).toMatchObject({ fingerprint: first.hostKeyFingerprint, keyType: 'ssh-ed25519' });
  });

  it('reports a wrong key as an authentication error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'stranger')]);
    const pem = readFileSync(join(dir, 'stranger'), 'utf8');
    const error = await connectSsh({ ...target(), privateKey: pem }, { expectedFingerprint: first.hostKeyFingerprint }).catch((e) => e);
    expect(error.kind).toBe('SshAuthError');
    expect(error.message).toMatch(/refused the key/);
  });

  it('reports a port where nothing listens as unreachable', async () => {
    const error = await connectSsh({ ...target(), port: 2 }, { expectedFingerprint: first.hostKeyFingerprint }).catch((e) => e);
    expect(error.kind).toBe('SshUnreachable');
    expect(error.message).toMatch(/ECONNREFUSED/);
  });
});
