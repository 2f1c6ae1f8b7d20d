import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderScripts } from '../../../electron/main/services/access/remote';

// Only refusals run here: every one of them exits before berth-shell calls docker. What the allowed verbs do is
// tested against the test bed's servers (test/integration/access).
const dir = mkdtempSync(join(tmpdir(), 'berth-shell-'));
const shell = join(dir, 'berth-shell');
writeFileSync(shell, renderScripts({ berthDir: join(dir, 'var'), libDir: dir, authorizedKeys: '.ssh/authorized_keys' }).berthShell);
chmodSync(shell, 0o755);

function run(role: string, request: string | undefined, member = 'm_abcd1') {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (request !== undefined) env.SSH_ORIGINAL_COMMAND = request;
  const result = spawnSync(shell, [role, member], { env, encoding: 'utf8' });
  return { code: result.status, stderr: result.stderr.trim(), stdout: result.stdout.trim() };
}

const viewerVerbs = 'whoami help ps logs inspect stats health images audit-read locks';

describe('berth-shell refusals', () => {
  it('refuses a viewer anything that is not a viewer verb, with exit 126 and the reason', () => {
    expect(run('viewer', 'docker run --rm -it debian')).toEqual({
      code: 126,
      stdout: '',
      stderr: `berth: role viewer may not run 'docker run': not a Berth verb; role viewer may run: ${viewerVerbs}`,
    });
    expect(run('viewer', 'run --name berth-x berth/x:v1')).toMatchObject({ code: 126, stderr: `berth: role viewer may not run 'run'; role viewer may run: ${viewerVerbs}` });
    expect(run('viewer', 'rm berth-iris-v1-r0').stderr).toBe(`berth: role viewer may not run 'rm'; role viewer may run: ${viewerVerbs}`);
    expect(run('viewer', 'routes-write').code).toBe(126);
    expect(run('deployer', 'break-lock iris')).toMatchObject({ code: 126, stderr: expect.stringMatching(/^berth: role deployer may not run 'break-lock'/) });
  });

  it('never lets shell syntax through, whatever the verb', () => {
    for (const request of ['ps; id', 'ps && id', 'ps | sh', 'logs $(id)', 'logs `id`', 'ps > /etc/passwd', "logs 'berth-x'", 'ps\nid', 'logs berth-*']) {
      const result = run('deployer', request);
      expect(result.code, request).toBe(126);
      expect(result.stderr, request).toMatch(/accepts plain words only/);
    }
  });

  it('has no interactive shell for viewers and deployers', () => {
    expect(run('viewer', undefined)).toMatchObject({ code: 126, stderr: expect.stringMatching(/role viewer has no interactive shell on this server; run one of: whoami/) });
    expect(run('deployer', '')).toMatchObject({ code: 126 });
  });

  it('checks every argument against a strict pattern (exit 64)', () => {
    expect(run('viewer', 'logs postgres')).toEqual({
      code: 64,
      stdout: '',
      stderr: "berth: invalid container name 'postgres' (must match ^berth-[a-z0-9][a-z0-9_.-]{0,100}$)",
    });
    expect(run('viewer', 'logs berth-x --tail lots').stderr).toMatch(/invalid --tail value 'lots'/);
    expect(run('viewer', 'logs berth-x --privileged').stderr).toMatch(/logs does not accept '--privileged'/);
    expect(run('deployer', 'run --name berth-x --privileged berth/x:v1')).toMatchObject({ code: 64, stderr: expect.stringMatching(/option '--privileged' is not allowed for deployers/) });
    expect(run('deployer', 'run --name berth-x -v /:/host berth/x:v1').stderr).toMatch(/option '-v' is not allowed/);
    expect(run('deployer', 'run --name berth-x --network bridge berth/x:v1').stderr).toMatch(/only --network host/);
    expect(run('deployer', 'run --name berth-x debian:12').stderr).toMatch(/invalid image \(berth\/<model>:<version>\) 'debian:12'/);
    expect(run('deployer', 'run --name berth-x berth/x:v1 sh').stderr).toMatch(/no command may follow the image/);
    expect(run('deployer', 'run --name other berth/x:v1').stderr).toMatch(/invalid container name 'other'/);
    expect(run('deployer', 'run berth/x:v1').stderr).toMatch(/--name berth-… is required/);
    expect(run('deployer', 'run --name berth-x --label com.evil=1 berth/x:v1').stderr).toMatch(/invalid label/);
    expect(run('deployer', 'rm berth-../x').code).toBe(64);
    expect(run('deployer', 'lock ../../etc').stderr).toMatch(/invalid model name/);
    expect(run('deployer', 'probe 22').stderr).toMatch(/port must be 1024-65535/);
  });

  it('refuses a key line without a valid role or member id', () => {
    expect(run('root', 'ps')).toMatchObject({ code: 126, stderr: expect.stringMatching(/no valid Berth role/) });
    expect(run('viewer', 'ps', 'alice')).toMatchObject({ code: 126, stderr: expect.stringMatching(/no valid Berth member id/) });
  });

  it('answers whoami and help without touching docker', () => {
    expect(run('deployer', 'whoami').stdout).toMatch(/^\{"member":"m_abcd1","role":"deployer","host":".+"\}$/);
    expect(run('viewer', 'berth help')).toMatchObject({ code: 0, stdout: `role viewer may run: ${viewerVerbs}` });
  });

  it('gives admins a shell unless the request starts with "berth"', () => {
    expect(run('admin', 'echo $((6*7))')).toMatchObject({ code: 0, stdout: '42' });
    expect(run('admin', 'berth whoami').stdout).toMatch(/"role":"admin"/);
    expect(run('admin', 'berth rm nope').code).toBe(64);
  });

  it('probes a replica on this server with one GET (deployers only)', async () => {
    const server = createServer((req, res) => res.end(JSON.stringify({ path: req.url })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      // spawn, not spawnSync: the HTTP server must keep answering while berth-shell runs
      const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(shell, ['deployer', 'm_abcd1'], { env: { PATH: process.env.PATH, SSH_ORIGINAL_COMMAND: `probe ${port} /healthz` } });
        let stdout = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.on('close', (code) => resolve({ code, stdout }));
      });
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^HTTP\/1\.[01] 200/);
      expect(out.stdout).toContain('{"path":"/healthz"}');
    } finally {
      server.close();
    }
    expect(run('viewer', 'probe 9100').code).toBe(126);
    expect(run('deployer', 'probe 9100 /etc/passwd').stderr).toMatch(/invalid probe path/);
  });
});
