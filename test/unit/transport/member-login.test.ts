import { EventEmitter } from 'node:events';
import type { Client } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { command, docker, verbRequest } from '../../../electron/main/services/remote/command';
import { SshConnection } from '../../../electron/main/services/transport/ssh';

interface Sent {
  command: string;
  stdin: string;
}

/**
 * A recording stand-in for ssh2's Client: records what each exec sends (command line and stdin) and answers with
 * the output and exit code `answer` gives for that command line.
 */
function fakeClient(answer: (command: string) => { stdout?: string; stderr?: string; code?: number }) {
  const sent: Sent[] = [];
  const client = Object.assign(new EventEmitter(), {
    exec(line: string, callback: (err: Error | undefined, channel: unknown) => void) {
      const channel = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), stdin: '', close() {} }) as EventEmitter & {
        stderr: EventEmitter;
        stdin: string;
        end(data?: string | Buffer): void;
        close(): void;
      };
      const record: Sent = { command: line, stdin: '' };
      sent.push(record);
      channel.end = (data) => {
        record.stdin = data === undefined ? '' : String(data);
        const { stdout = '', stderr = '', code = 0 } = answer(line);
        setImmediate(() => {
          if (stdout) channel.emit('data', Buffer.from(stdout));
          if (stderr) channel.stderr.emit('data', Buffer.from(stderr));
          channel.emit('exit', code);
          channel.emit('close');
        });
      };
      callback(undefined, channel);
    },
    end() {},
  });
  return { client: client as unknown as Client, sent };
}

const WHOAMI = (role: string) => JSON.stringify({ member: 'm_dan001', name: 'Dan', role, groups: { prod: { role, models: role === 'deployer' ? ['iris'] : null } }, host: 'tb1' });

async function connectionAs(role: 'deployer' | 'admin' | 'root', answer: (command: string) => { stdout?: string; stderr?: string; code?: number } = () => ({})) {
  const fake = fakeClient((line) => (line === 'berth whoami' ? (role === 'root' ? { stderr: 'bash: berth: command not found', code: 127 } : { stdout: `${WHOAMI(role)}\n` }) : answer(line)));
  const ssh = new SshConnection({ host: 'tb1', port: 22, username: 'root' }, { host: 'tb1', port: 22, keyType: 'ssh-ed25519', fingerprint: 'SHA256:x' }, fake.client);
  await ssh.identify();
  return { ssh, sent: fake.sent };
}

const lock = command('sh', '-c', 'mkdir "$1"', 'sh', '/var/lib/berth/lock/iris').asVerb(['lock', 'iris', 180], '{"token":"t1"}');

describe('a login with a member key', () => {
  it('is known by berth-shell’s whoami; a plain shell is not a member', async () => {
    expect((await connectionAs('deployer')).ssh.member).toMatchObject({ member: 'm_dan001', role: 'deployer', groups: { prod: { models: ['iris'] } } });
    expect((await connectionAs('root')).ssh.member).toBeNull();
  });

  it('sends the verb (with its own stdin) instead of the command, for every role', async () => {
    for (const role of ['deployer', 'admin'] as const) {
      const { ssh, sent } = await connectionAs(role, () => ({ stdout: 'acquired\n' }));
      expect(await ssh.run(lock, { stdin: 'ignored' })).toBe('acquired\n');
      expect(sent.at(-1)).toEqual({ command: 'berth lock iris 180', stdin: '{"token":"t1"}' });
    }
  });

  it('refuses a deployer a command without a verb before sending it, naming the role; an admin’s goes to their shell', async () => {
    const deployer = await connectionAs('deployer');
    await expect(deployer.ssh.run(docker('ps', '-a'))).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringMatching(/no berth-shell verb, so only an admin may run it \(Dan has role deployer\)/) });
    expect(deployer.sent.map((s) => s.command)).toEqual(['berth whoami']);
    const admin = await connectionAs('admin', () => ({ stdout: 'ok\n' }));
    expect(await admin.ssh.run(docker('ps', '-a'))).toBe('ok\n');
    expect(admin.sent.at(-1)!.command).toBe('docker ps -a');
  });

  it('turns berth-shell’s refusal (exit 126) into an Unauthorized error with the server’s reason', async () => {
    const { ssh } = await connectionAs('deployer', () => ({ stderr: 'berth: role deployer on model churn is needed to lock churn (you have: deployer only on iris)\n', code: 126 }));
    await expect(ssh.run(lock)).rejects.toMatchObject({ kind: 'Unauthorized', message: 'tb1 refused Dan: role deployer on model churn is needed to lock churn (you have: deployer only on iris)' });
  });

  it('a root login sends the command itself, verb or not', async () => {
    const { ssh, sent } = await connectionAs('root', () => ({ stdout: 'acquired\n' }));
    await ssh.run(lock, { stdin: 'note' });
    expect(sent.at(-1)).toEqual({ command: String(lock), stdin: 'note' });
  });

  it('an offboarded key is refused at identify, saying why', async () => {
    const fake = fakeClient(() => ({ stderr: "berth: this key belongs to no member of this server's groups (offboarded, or this server has not caught up yet); ask an admin\n", code: 126 }));
    const ssh = new SshConnection({ host: 'tb1', port: 22, username: 'root' }, { host: 'tb1', port: 22, keyType: 'ssh-ed25519', fingerprint: 'SHA256:x' }, fake.client);
    await expect(ssh.identify()).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringMatching(/^tb1 refused this key: this key belongs to no member/) });
  });
});

describe('verbRequest', () => {
  it('sends plain words only: nothing a shell would read as syntax reaches berth-shell', () => {
    expect(verbRequest({ words: ['logs', 'berth-iris-v1-r1', '--since', '2026-12-03T18:40:00.123456789Z'] })).toBe('berth logs berth-iris-v1-r1 --since 2026-12-03T18:40:00.123456789Z');
    for (const bad of ['a b', "x'", '$(id)', 'a;b', '*', '']) expect(() => verbRequest({ words: ['logs', bad] })).toThrow(/plain words only/);
  });
});
