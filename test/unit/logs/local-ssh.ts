import { spawn } from 'node:child_process';
import { BerthError } from '../../../shared/errors';
import type { ExecResult, SshConnection } from '../../../electron/main/services/transport/ssh';

/** A stand-in for an SshConnection that runs the remote commands in a local shell, so their text is tested for real. */
export function localShell(): SshConnection {
  const exec = (command: string, options: { timeoutMs?: number } = {}): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new BerthError('RemoteCommandFailed', 'timeout'))), options.timeoutMs ?? 10_000);
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(out), stderr, code: code ?? -1 });
      });
    });
  return {
    target: { host: 'local', port: 22, username: 'me' },
    exec,
    async run(command: string, options?: { timeoutMs?: number }) {
      const result = await exec(command, options);
      if (result.code !== 0) throw new BerthError('RemoteCommandFailed', `${command} failed (${result.code}): ${result.stderr}`);
      return result.stdout.toString();
    },
  } as unknown as SshConnection;
}
