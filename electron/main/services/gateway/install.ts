import { isIP } from 'node:net';
import semver from 'semver';
import { BerthError } from '../../../../shared/errors';
import { GatewayHealth, emptyRoutes } from '../../../../shared/gateway';
import { getTrusting } from '../tls/probe';
import { docker, each, script } from '../remote/command';
import { GATEWAY_PORT } from '../remote/layout';
import { writeRoutes } from './routes';
import { DEFAULT_GATEWAY, routesPathOf, type GatewayInstance, type RemoteShell } from './remote';

export interface EnsureGatewayOptions {
  /** Image reference already present on the server (moving images is the transport's job). */
  image: string;
  port?: number;
  /** Listen only on this address of the server (and on loopback, for its own tools); absent: on every interface. */
  listenAddress?: string;
  logMaxBytes?: number;
  logMaxFiles?: number;
  /** How long to wait for /_berth/health after (re)starting; default 20 s. */
  waitMs?: number;
  /** Container name and folders; default berth-gateway with /var/lib/berth/{gateway,logs/gateway}. */
  instance?: GatewayInstance;
  /**
   * The Berth version that built `image` (its berth.gateway.version label). A running gateway of a newer version is
   * kept: a teammate's newer Berth installed it, and replacing it would flip it back and forth between versions.
   */
  version?: string;
}

export interface EnsureGatewayResult {
  /** What was done: nothing (already right), started (existing stopped container), (re)created, or kept a newer one. */
  action: 'unchanged' | 'started' | 'created' | 'replaced' | 'kept-newer';
  containerId: string;
  imageId: string;
  /** The version of the gateway that runs now (its image's label), when it has one. */
  version: string | null;
}

/** Where the gateway listens: every interface, or one address of the server plus loopback (only loopback on this computer). */
function listenSetting(port: number, address: string | undefined): string {
  if (!address) return `:${port}`;
  if (address === '127.0.0.1') return `127.0.0.1:${port}`;
  const host = isIP(address) === 6 ? `[${address}]` : address;
  return `${host}:${port},127.0.0.1:${port}`;
}

/** The environment that makes the gateway listen as asked and bound its request log; a container without it must be replaced. */
const environment = (port: number, options: EnsureGatewayOptions) => [
  `BERTH_GATEWAY_LISTEN=${listenSetting(port, options.listenAddress)}`,
  ...(options.logMaxBytes ? [`BERTH_GATEWAY_LOG_MAX_BYTES=${Math.floor(options.logMaxBytes)}`] : []),
  ...(options.logMaxFiles ? [`BERTH_GATEWAY_LOG_MAX_FILES=${Math.floor(options.logMaxFiles)}`] : []),
];

/** What ensureGateway compares of an existing container, as one JSON object. */
const INSPECT_FORMAT =
  '{"id":{{json .Id}},"image":{{json .Image}},"running":{{json .State.Running}},"env":{{json .Config.Env}},"version":{{json (index .Config.Labels "berth.gateway.version")}},"port":{{json (index .Config.Labels "berth.gateway.port")}}}';

/** The remote commands of the gateway, kept apart from the code that runs them. */
const gatewayCommands = {
  imageId: (image: string) => docker('image', 'inspect', '-f', '{{.Id}}', image),
  inspect: (gw: GatewayInstance) => docker('inspect', '--type', 'container', '-f', INSPECT_FORMAT, gw.container),
  start: (gw: GatewayInstance) => docker('start', gw.container),
  /** SIGTERM first: the gateway finishes the requests in flight (it waits up to 8 s), then the container goes. */
  remove: (gw: GatewayInstance) => each(docker('stop', '-t', 10, gw.container).silenced(true), docker('rm', '-f', gw.container)),
  /** Makes the folders, then answers whether routes.json is there ($1 folder, $2 log folder, $3 routes.json). */
  prepareFolders: (gw: GatewayInstance) =>
    script('mkdir -p "$1" "$2" && { test -e "$3" && echo present || echo missing; }', gw.dir, gw.logDir, routesPathOf(gw)),
  run: (gw: GatewayInstance, port: number, settings: string[], image: string) =>
    docker(
      'run', '-d',
      '--name', gw.container,
      '--network', 'host',
      '--restart', 'unless-stopped',
      '--label', 'berth.gateway=1',
      '--label', `berth.gateway.port=${port}`,
      '--log-driver', 'json-file', '--log-opt', 'max-size=10m', '--log-opt', 'max-file=3',
      ...settings.flatMap((setting) => ['-e', setting]),
      '-v', `${gw.dir}:/etc/berth-gateway:ro`,
      '-v', `${gw.logDir}:/var/log/berth-gateway`,
      image,
    ),
  /** The image has no shell or curl: the gateway binary checks itself. */
  healthcheck: (gw: GatewayInstance) => docker('exec', gw.container, '/gateway', '-healthcheck'),
  logTail: (gw: GatewayInstance) => docker('logs', '--tail', 30, gw.container).withErrorsInOutput(),
};

/**
 * Makes sure the server runs its gateway container (`berth-gateway` by default) from `image` on `port`: leaves a matching running container alone,
 * starts a stopped one, and replaces one with another image or port. Waits (bounded) until the gateway answers
 * its own health check inside the container (`/gateway -healthcheck`; the image has no shell or curl).
 */
export async function ensureGateway(ssh: RemoteShell, options: EnsureGatewayOptions): Promise<EnsureGatewayResult> {
  const port = options.port ?? GATEWAY_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BerthError('ValidationError', `Gateway port ${port} is not a TCP port`);
  const gw = options.instance ?? DEFAULT_GATEWAY;

  const imageId = await imageIdOnServer(ssh, options.image, 'gateway');

  const existing = await inspectGateway(ssh, gw);
  if (existing?.running && isNewer(existing.version, options.version)) return { action: 'kept-newer', containerId: existing.id, imageId: existing.image, version: existing.version };
  const wanted = environment(port, options);
  let action: EnsureGatewayResult['action'];
  if (existing && existing.image === imageId && wanted.every((setting) => existing.env.includes(setting))) {
    if (existing.running) return { action: 'unchanged', containerId: existing.id, imageId, version: existing.version };
    await ssh.run(gatewayCommands.start(gw), { timeoutMs: 30_000 });
    action = 'started';
  } else {
    if (existing) await ssh.run(gatewayCommands.remove(gw), { timeoutMs: 30_000 });
    const routesState = await ssh.run(gatewayCommands.prepareFolders(gw), { timeoutMs: 15_000 });
    // An empty table rather than no file, so the gateway's health shows no config error.
    if (routesState.trim() === 'missing') await writeRoutes(ssh, emptyRoutes(), { instance: gw });
    await ssh.run(gatewayCommands.run(gw, port, wanted, options.image), { timeoutMs: 60_000 });
    action = existing ? 'replaced' : 'created';
  }

  try {
    await waitForGateway(ssh, options.waitMs ?? 20_000, gw);
  } catch (err) {
    if (action === 'replaced' && existing?.running) await rollBack(ssh, gw, existing, err);
    throw err;
  }
  const after = await inspectGateway(ssh, gw);
  return { action, containerId: after?.id ?? '', imageId, version: after?.version ?? null };
}

/**
 * A new gateway that never became healthy gives way to the one it replaced (same image, same settings), so a bad
 * upgrade costs this server a moment, not its traffic; the error then says so.
 */
async function rollBack(ssh: RemoteShell, gw: GatewayInstance, previous: GatewayContainer, failure: unknown): Promise<void> {
  const error = failure as BerthError;
  try {
    await ssh.run(gatewayCommands.remove(gw), { timeoutMs: 30_000 });
    const settings = previous.env.filter((e) => e.startsWith('BERTH_GATEWAY_'));
    await ssh.run(gatewayCommands.run(gw, previous.port ?? GATEWAY_PORT, settings, previous.image), { timeoutMs: 60_000 });
    await waitForGateway(ssh, 20_000, gw);
    error.message += `\nThe previous gateway${previous.version ? ` (${previous.version})` : ''} runs again on ${ssh.target.host}.`;
  } catch (err) {
    error.message += `\nThe previous gateway could not be started again on ${ssh.target.host} either: ${BerthError.from(err).message}`;
  }
}

/** Whether a running gateway's version is newer than ours; a build without a release version (dev, test) orders nothing. */
function isNewer(running: string | null, ours: string | undefined): boolean {
  const a = semver.valid(running ?? '');
  const b = semver.valid(ours ?? '');
  return a !== null && b !== null && semver.gt(a, b);
}

/** The id of an image the server holds; `role` names it in the error when the transport has not sent it yet. */
export async function imageIdOnServer(ssh: RemoteShell, image: string, role: 'gateway' | 'agent'): Promise<string> {
  const imageId = (await ssh.exec(gatewayCommands.imageId(image), { timeoutMs: 20_000 })).stdout.toString().trim();
  if (!imageId) throw new BerthError('NotFound', `The ${role} image ${image} is not on ${ssh.target.host}: send it to the server first`);
  return imageId;
}

interface GatewayContainer {
  id: string;
  image: string;
  running: boolean;
  env: string[];
  version: string | null;
  port: number | null;
}

async function inspectGateway(ssh: RemoteShell, gw: GatewayInstance): Promise<GatewayContainer | null> {
  const result = await ssh.exec(gatewayCommands.inspect(gw), { timeoutMs: 20_000 });
  if (result.code !== 0) {
    if (/No such (object|container)/i.test(result.stderr)) return null;
    throw new BerthError('RemoteCommandFailed', `Cannot inspect ${gw.container} on ${ssh.target.host}: ${result.stderr.trim()}`);
  }
  const { id, image, running, env, version, port } = JSON.parse(result.stdout.toString()) as { id: string; image: string; running: boolean; env?: string[]; version?: string; port?: string };
  return { id, image, running, env: env ?? [], version: version || null, port: port ? Number(port) : null };
}

/** Polls `docker exec berth-gateway /gateway -healthcheck` until it passes; on timeout, the error carries the logs. */
export async function waitForGateway(ssh: RemoteShell, waitMs: number, gw: GatewayInstance = DEFAULT_GATEWAY): Promise<void> {
  const deadline = Date.now() + waitMs;
  let last = '';
  for (let attempt = 0; attempt < 200; attempt++) {
    const result = await ssh.exec(gatewayCommands.healthcheck(gw), { timeoutMs: 10_000 });
    if (result.code === 0) return;
    last = (result.stderr || result.stdout.toString()).trim();
    if (Date.now() + 250 > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const logs = await ssh.exec(gatewayCommands.logTail(gw), { timeoutMs: 10_000 });
  const tail = logs.stdout.toString().trim();
  throw new BerthError(
    'RemoteCommandFailed',
    `The gateway on ${ssh.target.host} did not become healthy within ${Math.round(waitMs / 1000)} s (${last || 'no answer'}). Its last log lines:\n${tail}`,
    { logs: tail },
  );
}

/**
 * Asks a gateway for its health from this machine, as a client would: over HTTPS trusting only the group CA when
 * `authority` is given (an HTTPS-only gateway refuses plain HTTP from the network), else over HTTP.
 */
export async function gatewayHealth(host: string, port = GATEWAY_PORT, timeoutMs = 3000, authority?: string): Promise<GatewayHealth> {
  const url = `${authority ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/_berth/health`;
  let answer: { status: number; body: string };
  try {
    answer = authority ? await getTrusting(url, authority, timeoutMs) : await plainGet(url, timeoutMs);
  } catch (err) {
    const cause = (err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code ?? (err as Error).message;
    throw new BerthError('RemoteCommandFailed', `The gateway at ${url} does not answer (${cause}): is berth-gateway running and the port open?`);
  }
  if (answer.status !== 200) throw new BerthError('RemoteCommandFailed', `The gateway at ${url} answered ${answer.status}`);
  const parsed = GatewayHealth.safeParse(parseJson(answer.body));
  if (!parsed.success) throw new BerthError('RemoteCommandFailed', `${url} did not answer like a Berth gateway`);
  return parsed.data;
}

async function plainGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
