import { describe, expect, it } from 'vitest';
import { agentCommands, ensureAgent } from '../../../electron/main/services/agent/install';
import { defaultLayout } from '../../../electron/main/services/remote/layout';
import { RecordingShell } from '../support/recording-shell';

const IMAGE = 'berth/gateway:abc123';
const ARGS = ['agent', '-berth-dir', '/var/lib/berth', '-gateway-dir', '/var/lib/berth/gateway', '-listen', ':8701', '-gateway-port', '8700'];
const running = (image: string, args = ARGS) => ({ stdout: JSON.stringify({ image, running: true, args }) });

describe('the server agent beside the gateway', () => {
  it('runs in agent mode from the gateway image, with the Docker socket and Berth folder, restarted by Docker', () => {
    expect(String(agentCommands.run(defaultLayout, IMAGE))).toBe(
      "docker run -d --name berth-agent --network host --restart unless-stopped --label berth.agent=1 --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 " +
        "-v /var/lib/berth:/var/lib/berth -v /var/run/docker.sock:/var/run/docker.sock berth/gateway:abc123 agent -berth-dir /var/lib/berth -gateway-dir /var/lib/berth/gateway -listen :8701 -gateway-port 8700",
    );
  });

  it('creates the agent where there is none, then waits for its first view', async () => {
    const shell = new RecordingShell([
      ['image inspect', { stdout: 'sha256:img\n' }],
      ['docker inspect', { code: 1, stderr: 'Error: No such object: berth-agent' }],
      ['stat -c', [{ stdout: 'none\n' }, { stdout: '1\n' }]],
    ]);
    expect(await ensureAgent(shell, defaultLayout, IMAGE)).toBe('created');
    expect(shell.commands.filter((c) => c.startsWith('docker run'))).toHaveLength(1);
    expect(shell.commands.filter((c) => c.includes('stat -c'))).toHaveLength(2);
  });

  it('leaves a running agent of the same image and arguments alone, and replaces one of another image', async () => {
    const same = new RecordingShell([['image inspect', { stdout: 'sha256:img\n' }], ['docker inspect', running('sha256:img')]]);
    expect(await ensureAgent(same, defaultLayout, IMAGE)).toBe('unchanged');
    expect(same.commands.some((c) => c.startsWith('docker run'))).toBe(false);

    const older = new RecordingShell([['image inspect', { stdout: 'sha256:new\n' }], ['docker inspect', running('sha256:old')], ['stat -c', { stdout: '0\n' }]]);
    expect(await ensureAgent(older, defaultLayout, IMAGE)).toBe('replaced');
    const order = older.commands.map((c) => (c.startsWith('docker rm -f berth-agent') ? 'rm' : c.startsWith('docker run') ? 'run' : '')).filter(Boolean);
    expect(order).toEqual(['rm', 'run']);
  });

  it('an agent that writes no view fails the deploy with its log lines, and a missing image says to send it', async () => {
    const silent = new RecordingShell([
      ['image inspect', { stdout: 'sha256:img\n' }],
      ['docker inspect', { code: 1, stderr: 'No such object' }],
      ['stat -c', { stdout: 'none\n' }],
      ['docker logs', { stdout: 'agent: cannot read /var/lib/berth/server.json\n' }],
    ]);
    await expect(ensureAgent(silent, defaultLayout, IMAGE, 300)).rejects.toThrow(/wrote no view within 0 s.*\n.*cannot read \/var\/lib\/berth\/server.json/);
    const missing = new RecordingShell([['image inspect', { stdout: '' }]]);
    await expect(ensureAgent(missing, defaultLayout, IMAGE)).rejects.toThrow(/not on server-1: send it to the server first/);
  });
});
