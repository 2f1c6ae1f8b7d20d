import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { remoteBuildCommands } from '../../../electron/main/services/build/remote-build';
import { serverCopyCommands } from '../../../electron/main/services/transport/server-copy';
import type { RemoteCommand } from '../../../electron/main/services/remote/command';

/** Runs a command's text with sh, HOME set to a scratch folder (the scripts touch only $HOME/.ssh there). */
function runIn(home: string, command: RemoteCommand, stdin = ''): string {
  return execFileSync('sh', ['-c', String(command)], { env: { PATH: process.env.PATH, HOME: home }, input: stdin, encoding: 'utf8' });
}

describe('remote build commands', () => {
  it('builds from the tar on stdin with the labels as words, output and errors joined', () => {
    expect(String(remoteBuildCommands.build('berth/iris:b1', { 'berth.project': 'iris', 'berth.built-by': 'ana lee' }))).toBe(
      `sh -c 'echo "berth-build-pid $$"; t=$1; shift; exec docker build -t "$t" "$@" - 2>&1' sh berth/iris:b1 --label berth.project=iris --label 'berth.built-by=ana lee'`,
    );
    expect(String(remoteBuildCommands.removeImage('berth/iris:b1'))).toBe('docker rmi -f berth/iris:b1 >/dev/null 2>&1 || true');
  });
});

describe('server-to-server copy commands', () => {
  it('pipes docker save into ssh with only the one-time key and the pinned host key, values as parameters', () => {
    expect(String(serverCopyCommands.copy('berth/iris:b1', '/tmp/berth-copy.abc', 2222, 'root@10.0.0.2', ['0a1b/layer.tar']))).toBe(
      `sh -c 'i=$1 d=$2 p=$3 l=$4 a=$5; shift 5; if [ $# -gt 0 ]; then docker save "$i" | tar --delete -f - "$@"; else docker save "$i"; fi | ssh -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes -o Compression=no -o UserKnownHostsFile="$d/known_hosts" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o HostKeyAlias="$a" -p "$p" "$l" docker load' sh berth/iris:b1 /tmp/berth-copy.abc 2222 root@10.0.0.2 berth-copy-target 0a1b/layer.tar`,
    );
  });

  it('leaves out exactly the named members of the save stream (tar --delete as a filter), or none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-copy-tar-'));
    for (const layer of ['aa', 'bb']) {
      mkdirSync(join(dir, layer));
      writeFileSync(join(dir, layer, 'layer.tar'), layer);
      writeFileSync(join(dir, layer, 'json'), '{}');
    }
    writeFileSync(join(dir, 'manifest.json'), '[]');
    const archive = execFileSync('tar', ['-C', dir, '-c', 'aa', 'bb', 'manifest.json']);
    // The script's filter step alone: a fake docker whose `save` is the archive, and no ssh (cat stands in).
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'docker'), `#!/bin/sh\ncat ${join(dir, 'archive.tar')}\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'ssh'), '#!/bin/sh\ncat\n', { mode: 0o755 });
    writeFileSync(join(dir, 'archive.tar'), archive);
    const run = (leaveOut: string[]) =>
      execFileSync('sh', ['-c', String(serverCopyCommands.copy('img', dir, 22, 'root@h', leaveOut))], { env: { PATH: `${bin}:${process.env.PATH}` } });
    const list = (tarBytes: Buffer) => execFileSync('tar', ['-t'], { input: tarBytes, encoding: 'utf8' }).trim().split('\n');
    expect(list(run(['aa/layer.tar']))).toEqual(['aa/', 'aa/json', 'bb/', 'bb/json', 'bb/layer.tar', 'manifest.json']);
    expect(list(run([]))).toContain('aa/layer.tar');
  });

  it("adds the transfer key after Berth's block and removes exactly that line, keeping the rest byte for byte", () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-copy-unit-'));
    mkdirSync(join(home, '.ssh'));
    const file = join(home, '.ssh', 'authorized_keys');
    const before = 'ssh-ed25519 AAAAadmin admin@laptop\n# berth:begin\nrestrict ssh-ed25519 AAAAm berth-member:m_1\n# berth:end'; // no final newline
    writeFileSync(file, before);
    const line = 'restrict,command="docker load" ssh-ed25519 AAAAcopy berth-transfer-0123abcd';
    runIn(home, serverCopyCommands.authorize(line));
    expect(readFileSync(file, 'utf8')).toBe(`${before}\n${line}\n`);
    runIn(home, serverCopyCommands.revoke('berth-transfer-0123abcd'));
    expect(readFileSync(file, 'utf8')).toBe(`${before}\n`);
    // Revoking again, or in an account without the file, is fine.
    runIn(home, serverCopyCommands.revoke('berth-transfer-0123abcd'));
    runIn(mkdtempSync(join(tmpdir(), 'berth-copy-unit-')), serverCopyCommands.revoke('berth-transfer-0123abcd'));
  });

  it('writes the key into a 0700 folder as a 0600 file', () => {
    const dir = runIn(tmpdir(), serverCopyCommands.makeDir()).trim();
    runIn(tmpdir(), serverCopyCommands.writeFile(dir, 'key'), 'PRIVATE');
    expect(execFileSync('stat', ['-c', '%a', dir], { encoding: 'utf8' }).trim()).toBe('700');
    expect(execFileSync('stat', ['-c', '%a', join(dir, 'key')], { encoding: 'utf8' }).trim()).toBe('600');
    runIn(tmpdir(), serverCopyCommands.removeDir(dir));
    expect(() => execFileSync('test', ['-e', dir])).toThrow();
  });
});
