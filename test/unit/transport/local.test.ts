import { describe, expect, it } from 'vitest';
import { closeTied, tiedToChannel } from '../../../electron/main/services/logs/remote';
import { command, script } from '../../../electron/main/services/remote/command';
import { connectLocal } from '../../../electron/main/services/transport/local';

/** This computer's shell as a server connection: the same exec, run and stream an SSH connection gives. */
describe('connectLocal', () => {
  const shell = connectLocal('tester');

  it('runs a command as data, with stdin, and returns its output and exit status', async () => {
    const result = await shell.exec(script('cat; echo "$1" >&2; exit 3', "it's quoted"), { stdin: 'from stdin' });
    expect(result).toEqual({ stdout: Buffer.from('from stdin'), stderr: "it's quoted\n", code: 3 });
    expect(shell.member).toBeNull();
    expect(shell.isLocal).toBe(true);
    expect(shell.target).toMatchObject({ host: '127.0.0.1', username: 'tester' });
  });

  it('run turns a failure into RemoteCommandFailed with stderr, as over SSH', async () => {
    await expect(shell.run(command('ls', '/no/such/folder'))).rejects.toMatchObject({ kind: 'RemoteCommandFailed', message: expect.stringContaining('failed on 127.0.0.1 (exit 2)') });
    expect(await shell.run(command('echo', 'ok'))).toBe('ok\n');
  });

  it('a timeout stops the command and says how long it waited', async () => {
    const started = Date.now();
    await expect(shell.exec(script('sleep 30 & sleep 30; echo never'), { timeoutMs: 300 })).rejects.toMatchObject({ message: expect.stringContaining('took longer than 300 ms') });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a cancel stops the command', async () => {
    const abort = new AbortController();
    const pending = shell.exec(command('sleep', 30), { signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    await expect(pending).rejects.toMatchObject({ kind: 'Cancelled' });
  });

  it('streams a long-running command tied to its channel, which ends when the channel is closed', async () => {
    const channel = await shell.stream(tiedToChannel(command('sh', '-c', 'echo first; exec sleep 30')));
    const first = await new Promise<string>((resolve) => channel.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    expect(first).toBe('first\n');
    const closed = new Promise<number>((resolve) => channel.on('exit', (code: number) => resolve(code)));
    closeTied(channel);
    expect(typeof (await closed)).toBe('number');
  });

  it('pipes a large stdin through without loss (an image load reads it so)', async () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, 7);
    const result = await shell.exec(script('wc -c'), { stdin: payload });
    expect(result.stdout.toString().trim()).toBe(String(payload.length));
  });
});
