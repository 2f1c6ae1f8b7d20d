import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyRoutes } from '../../../shared/gateway';
import { ensureGateway } from '../../../electron/main/services/gateway/install';
import type { GatewayInstance } from '../../../electron/main/services/gateway/remote';
import { readRoutes, writeRoutes } from '../../../electron/main/services/gateway/routes';
import { invocations, RecordingShell, runLocally, type Answer, type Rule } from '../support/recording-shell';

const IMAGE_ID = 'sha256:1111';
const imageInspect = (image = 'berth/gateway:1') => `docker image inspect -f '{{.Id}}' ${image}`;
const containerInspect = (container = 'berth-gateway') =>
  `docker inspect --type container -f '{"id":{{json .Id}},"image":{{json .Image}},"running":{{json .State.Running}},"env":{{json .Config.Env}},"version":{{json (index .Config.Labels "berth.gateway.version")}},"port":{{json (index .Config.Labels "berth.gateway.port")}}}' ${container}`;
const PREPARE =
  `sh -c 'mkdir -p "$1" "$2" && { test -e "$3" && echo present || echo missing; }' sh ` +
  '/var/lib/berth/gateway /var/lib/berth/logs/gateway /var/lib/berth/gateway/routes.json';
const WRITE_ROUTES_SCRIPT =
  `'mkdir -p "$1" && tmp=$(mktemp "$1/.routes.json.XXXXXX") && { cat > "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$2"; } || { rm -f "$tmp"; exit 1; }'`;
const WRITE_ROUTES = `sh -c ${WRITE_ROUTES_SCRIPT} sh /var/lib/berth/gateway /var/lib/berth/gateway/routes.json`;
const RUN =
  'docker run -d --name berth-gateway --network host --restart unless-stopped --label berth.gateway=1 --label berth.gateway.port=8700 ' +
  '--log-driver json-file --log-opt max-size=10m --log-opt max-file=3 -e BERTH_GATEWAY_LISTEN=:8700 ' +
  '-v /var/lib/berth/gateway:/etc/berth-gateway:ro -v /var/lib/berth/logs/gateway:/var/log/berth-gateway berth/gateway:1';
const HEALTHCHECK = 'docker exec berth-gateway /gateway -healthcheck';

const noContainer: Answer = { code: 1, stderr: 'Error: No such object: berth-gateway' };
const container = (image: string, running: boolean, port = 8700, version?: string): Answer => ({
  stdout: JSON.stringify({ id: 'c0ffee', image, running, env: [`BERTH_GATEWAY_LISTEN=:${port}`], version, port: String(port) }),
});

const gatewayShell = (inspections: Answer[], extra: Rule[] = []) =>
  new RecordingShell([['docker image inspect', { stdout: `${IMAGE_ID}\n` }], ['docker inspect', inspections], ...extra]);

describe('ensureGateway', () => {
  it('creates the folders, an empty routes table and the container, then waits for its health check', async () => {
    const shell = gatewayShell([noContainer, container(IMAGE_ID, true)], [['test -e', { stdout: 'missing\n' }]]);
    const result = await ensureGateway(shell, { image: 'berth/gateway:1' });
    expect(result).toEqual({ action: 'created', containerId: 'c0ffee', imageId: IMAGE_ID, version: null });
    expect(shell.recorded).toEqual([
      { command: imageInspect(), timeoutMs: 20_000 },
      { command: containerInspect(), timeoutMs: 20_000 },
      { command: PREPARE, timeoutMs: 15_000 },
      { command: WRITE_ROUTES, stdin: `${JSON.stringify(emptyRoutes(), null, 1)}\n`, timeoutMs: 15_000 },
      { command: RUN, timeoutMs: 60_000 },
      { command: HEALTHCHECK, timeoutMs: 10_000 },
      { command: containerInspect(), timeoutMs: 20_000 },
    ]);
  });

  it('passes the log limits as settings', async () => {
    const shell = gatewayShell([noContainer, container(IMAGE_ID, true, 9000)], [['test -e', { stdout: 'present\n' }]]);
    await ensureGateway(shell, { image: 'berth/gateway:1', port: 9000, logMaxBytes: 1048576.7, logMaxFiles: 4 });
    expect(shell.commands.find((c) => c.startsWith('docker run'))).toBe(
      RUN.replaceAll('8700', '9000').replace(
        '-e BERTH_GATEWAY_LISTEN=:9000',
        '-e BERTH_GATEWAY_LISTEN=:9000 -e BERTH_GATEWAY_LOG_MAX_BYTES=1048576 -e BERTH_GATEWAY_LOG_MAX_FILES=4',
      ),
    );
  });

  it('starts a stopped container of the right image and port', async () => {
    const shell = gatewayShell([container(IMAGE_ID, false), container(IMAGE_ID, true)]);
    expect((await ensureGateway(shell, { image: 'berth/gateway:1' })).action).toBe('started');
    expect(shell.recorded.slice(2)).toEqual([
      { command: 'docker start berth-gateway', timeoutMs: 30_000 },
      { command: HEALTHCHECK, timeoutMs: 10_000 },
      { command: containerInspect(), timeoutMs: 20_000 },
    ]);
  });

  it('leaves a running container of the right image and port alone', async () => {
    const shell = gatewayShell([container(IMAGE_ID, true)]);
    expect((await ensureGateway(shell, { image: 'berth/gateway:1' })).action).toBe('unchanged');
    expect(shell.commands).toEqual([imageInspect(), containerInspect()]);
  });

  it('replaces a container of another image, keeping an existing routes table', async () => {
    const shell = gatewayShell([container('sha256:0000', true), container(IMAGE_ID, true)], [['test -e', { stdout: 'present\n' }]]);
    expect((await ensureGateway(shell, { image: 'berth/gateway:1' })).action).toBe('replaced');
    expect(shell.commands).toEqual([imageInspect(), containerInspect(), 'docker stop -t 10 berth-gateway >/dev/null 2>&1 ; docker rm -f berth-gateway', PREPARE, RUN, HEALTHCHECK, containerInspect()]);
    expect(shell.recorded[2].timeoutMs).toBe(30_000);
  });

  it('binds to one address of the server and loopback when asked, replacing a gateway that listens everywhere', async () => {
    const shell = gatewayShell([container(IMAGE_ID, true), container(IMAGE_ID, true)], [['test -e', { stdout: 'present\n' }]]);
    expect((await ensureGateway(shell, { image: 'berth/gateway:1', listenAddress: '10.77.8.11' })).action).toBe('replaced');
    expect(shell.commands.find((c) => c.startsWith('docker run'))).toBe(RUN.replace('BERTH_GATEWAY_LISTEN=:8700', 'BERTH_GATEWAY_LISTEN=10.77.8.11:8700,127.0.0.1:8700'));
    const v6 = gatewayShell([noContainer, container(IMAGE_ID, true)], [['test -e', { stdout: 'present\n' }]]);
    await ensureGateway(v6, { image: 'berth/gateway:1', listenAddress: '2001:db8::5' });
    expect(v6.commands.find((c) => c.startsWith('docker run'))).toContain("-e 'BERTH_GATEWAY_LISTEN=[2001:db8::5]:8700,127.0.0.1:8700'");
  });

  it("keeps a running gateway of a newer Berth version: a teammate's newer Berth installed it", async () => {
    const shell = gatewayShell([container('sha256:0000', true, 8700, '0.3.0')]);
    const result = await ensureGateway(shell, { image: 'berth/gateway:1', version: '0.2.9' });
    expect(result).toEqual({ action: 'kept-newer', containerId: 'c0ffee', imageId: 'sha256:0000', version: '0.3.0' });
    expect(shell.commands).toEqual([imageInspect(), containerInspect()]);
    // An older one, or one without a release version (a dev build), is replaced.
    for (const running of ['0.2.8', 'dev']) {
      const older = gatewayShell([container('sha256:0000', true, 8700, running), container(IMAGE_ID, true, 8700, '0.2.9')], [['test -e', { stdout: 'present\n' }]]);
      expect(await ensureGateway(older, { image: 'berth/gateway:1', version: '0.2.9' })).toMatchObject({ action: 'replaced', version: '0.2.9' });
    }
  });

  it('puts the replaced gateway back when the new one never becomes healthy, and says so', async () => {
    let runs = 0;
    const shell = gatewayShell([container('sha256:0000', true, 8700, '0.2.0')], [
      ['test -e', { stdout: 'present\n' }],
      ['docker run', (_command: string): Answer => (runs++, { stdout: 'id\n' })],
      ['-healthcheck', (_command: string): Answer => (runs === 1 ? { code: 1, stderr: 'connection refused' } : { stdout: 'ok' })],
      ['docker logs', { stdout: 'panic: bad table\n' }],
    ]);
    const error = await ensureGateway(shell, { image: 'berth/gateway:1', version: '0.3.0', waitMs: 0 }).catch((e) => e);
    expect(error.message).toMatch(/did not become healthy within 0 s \(connection refused\)[^]*panic: bad table\nThe previous gateway \(0\.2\.0\) runs again on /);
    const rerun = shell.commands.filter((c) => c.startsWith('docker run'))[1];
    expect(rerun).toBe(RUN.replace(' --label berth.gateway.port=8700', ' --label berth.gateway.port=8700').replace('berth/gateway:1', 'sha256:0000'));
  });

  it('fails with the log tail when the health check never passes', async () => {
    const shell = gatewayShell([container(IMAGE_ID, false)], [
      ['-healthcheck', { code: 1, stderr: 'connection refused' }],
      ['docker logs', { stdout: 'listen: address in use\n' }],
    ]);
    const error = await ensureGateway(shell, { image: 'berth/gateway:1', waitMs: 0 }).catch((e) => e);
    expect(error).toMatchObject({ kind: 'RemoteCommandFailed', detail: { logs: 'listen: address in use' } });
    expect(shell.recorded.at(-1)).toEqual({ command: 'docker logs --tail 30 berth-gateway 2>&1', timeoutMs: 10_000 });
  });

  it('refuses an image that is not on the server, before anything else', async () => {
    const shell = new RecordingShell();
    await expect(ensureGateway(shell, { image: 'berth/gateway:1' })).rejects.toMatchObject({ kind: 'NotFound' });
    expect(shell.commands).toEqual([imageInspect()]);
  });

  it('quotes a hostile image, container name and folders', async () => {
    const instance: GatewayInstance = { container: "gw'x", dir: '/srv/my gw', logDir: '/srv/$(echo injected)' };
    const image = `evil image'; echo injected`;
    const shell = gatewayShell([noContainer, container(IMAGE_ID, true)], [['test -e', { stdout: 'present\n' }]]);
    await ensureGateway(shell, { image, instance });
    const [, inspect, prepare, run, health] = shell.commands;
    expect(shell.commands[0]).toBe(imageInspect(`'evil image'\\''; echo injected'`));
    expect(inspect).toBe(containerInspect(`'gw'\\''x'`));
    expect(prepare).toBe(PREPARE.replace(/ sh \/var.*$/, ` sh '/srv/my gw' '/srv/$(echo injected)' '/srv/my gw/routes.json'`));
    expect(health).toBe(`docker exec 'gw'\\''x' /gateway -healthcheck`);
    expect(invocations(run, ['docker'])).toEqual([
      [
        'docker', 'run', '-d', '--name', "gw'x", '--network', 'host', '--restart', 'unless-stopped',
        '--label', 'berth.gateway=1', '--label', 'berth.gateway.port=8700',
        '--log-driver', 'json-file', '--log-opt', 'max-size=10m', '--log-opt', 'max-file=3',
        '-e', 'BERTH_GATEWAY_LISTEN=:8700',
        '-v', '/srv/my gw:/etc/berth-gateway:ro', '-v', '/srv/$(echo injected):/var/log/berth-gateway', image,
      ],
    ]);
  });
});

describe('writeRoutes and readRoutes', () => {
  const table = { revision: 3, models: {}, keys: [] };

  it('write through a temporary file and mv, the table on stdin', async () => {
    const shell = new RecordingShell();
    await writeRoutes(shell, table, { timeoutMs: 5_000 });
    expect(shell.recorded).toEqual([{ command: WRITE_ROUTES, stdin: `${JSON.stringify(table, null, 1)}\n`, timeoutMs: 5_000 }]);
  });

  it('read with cat, and null when the server has no table yet', async () => {
    const present = new RecordingShell([['cat', { stdout: JSON.stringify(table) }]]);
    expect(await readRoutes(present)).toEqual(table);
    expect(present.recorded).toEqual([{ command: 'cat /var/lib/berth/gateway/routes.json', timeoutMs: 15_000 }]);
    const absent = new RecordingShell([['cat', { code: 1, stderr: 'cat: /var/lib/berth/gateway/routes.json: No such file or directory' }]]);
    expect(await readRoutes(absent)).toBeNull();
  });

  it('quote a hostile folder', async () => {
    const instance: GatewayInstance = { container: 'gw', dir: "/srv/it's $(echo injected)", logDir: '/srv/logs' };
    const shell = new RecordingShell([['cat', { stdout: JSON.stringify(table) }]]);
    await writeRoutes(shell, table, { instance });
    await readRoutes(shell, instance);
    expect(shell.commands).toEqual([
      `sh -c ${WRITE_ROUTES_SCRIPT} sh '/srv/it'\\''s $(echo injected)' '/srv/it'\\''s $(echo injected)/routes.json'`,
      `cat '/srv/it'\\''s $(echo injected)/routes.json'`,
    ]);
  });

  it('really replace the table in a folder with a hostile name, leaving no temporary file', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'berth-routes-')), "it's $(echo injected)");
    const instance: GatewayInstance = { container: 'gw', dir, logDir: dir };
    const shell = new RecordingShell([[() => true, (command, stdin) => runLocally(command, stdin)]]);
    await writeRoutes(shell, { revision: 1, models: {}, keys: [] }, { instance });
    await writeRoutes(shell, table, { instance });
    expect(readdirSync(dir)).toEqual(['routes.json']);
    expect(statSync(join(dir, 'routes.json')).mode & 0o777).toBe(0o644);
    expect(JSON.parse(readFileSync(join(dir, 'routes.json'), 'utf8'))).toEqual(table);
    expect(await readRoutes(shell, instance)).toEqual(table);
  });
});
