/**
 * `berth status`, the printing of deploy/rollback events and `berth deploy --gpus` for the CLI (electron/main/cli.ts
 * calls these, some through cli-pages.ts): what the Deployments and Servers pages show, as text or JSON.
 */
import { GpuRequest, type DeployEvent, type ModelView } from '../../../../shared/deploy';
import { BerthError } from '../../../../shared/errors';
import type { GatewayHealth } from '../../../../shared/gateway';
import type { ServerLogin } from '../../../../shared/identity';
import type { GroupView, ServerView } from '../../../../shared/servers';
import { LOCAL_GROUP } from '../../../../shared/project-file';
import { json, parseCommand, positionals, UsageError, type Call, type CliIo } from '../../rpc/cli-kit';
import { gatewayHealth } from '../gateway/install';

export const statusUsage = 'berth status [--group G] [--json]';

/** `--gpus 2`: two per replica, any free ones; `--gpus 0,1` or `--gpus device=1`: those, by index; `--gpus 0`: none. */
export function gpusOption(value: string): GpuRequest | null {
  const text = value.trim();
  const request = /^\d+$/.test(text) ? Number(text) : text.replace(/^device=/, '').split(',');
  if (request === 0) return null;
  const parsed = GpuRequest.safeParse(request);
  if (!parsed.success) {
    throw new UsageError(`--gpus is a count (--gpus 1) or GPU indexes (--gpus 0,1, or --gpus device=1 for one), not "${value}": ${parsed.error.issues[0].message}`);
  }
  return parsed.data;
}

export interface GatewayStatus {
  ok: boolean;
  /** The gateway table's revision it serves (null: no answer). */
  revision: number | null;
  configError: string | null;
  error: string | null;
}

export interface ServerStatus {
  name: string;
  host: string;
  state: ServerView['state'];
  error: string | null;
  login: ServerLogin | null;
  gateway: GatewayStatus;
}

export interface VersionStatus {
  number: number;
  state: string;
  aliases: string[];
  /** Per server: healthy replicas of the replicas its gateway routes to (absent: the gateway did not answer). */
  replicas: Record<string, { healthy: number; replicas: number }>;
  createdBy: string;
  createdAt: string;
}

export interface GroupStatus {
  name: string;
  replicas: number;
  revision: number | null;
  changedBy: string | null;
  changedAt: string | null;
  /** `off`: the group's gateways serve plain HTTP (shown with a warning). */
  tls: GroupView['tls'];
  listen: GroupView['listen'];
  servers: ServerStatus[];
  models: Array<{ name: string; public: boolean; versions: VersionStatus[] }>;
}

/** What `berth status` and `berth groups tls … off` say of a group that serves plain HTTP. */
export const plainHttpWarning = (group: string) =>
  group === LOCAL_GROUP
    ? `Group ${group} serves plain HTTP on 127.0.0.1 only: nothing leaves this computer.`
    : `WARNING: group ${group} serves plain HTTP: API keys and predictions cross the network unencrypted. Switch it with \`berth groups tls ${group} https\`.`;

/** What `berth status` says of a group whose one server going down takes its models down (the app shows the same). */
export const noRedundancyWarning = (group: string) =>
  group === LOCAL_GROUP
    ? `WARNING: group ${group} is this computer alone: no redundancy, and it serves only while this computer is on. For production, deploy to a group of servers.`
    : `WARNING: group ${group} has one server: no redundancy. Add a second with \`berth groups set ${group} <server> <server>\`.`;

/** `berth status`: parses now (a usage error must not wait for the servers), runs with the contract. */
export function statusCommand(argv: string[]) {
  const { values, positionals: rest } = parseCommand(argv, { group: { type: 'string' }, json: { type: 'boolean' } }, statusUsage);
  positionals(rest, [], statusUsage);
  return async (call: Call, io: CliIo): Promise<number> => {
    const groups = await collectStatus(call, values.group);
    io.out(values.json ? json({ at: new Date().toISOString(), groups }) : formatStatus(groups));
    return 0;
  };
}

async function collectStatus(call: Call, only: string | undefined): Promise<GroupStatus[]> {
  const [groups, models] = await Promise.all([call('groups.list', {}), call('deploy.models', {})]);
  const shown = only ? groups.filter((g) => g.name === only) : groups;
  if (only && !shown.length) throw new BerthError('NotFound', `No group named "${only}" (groups: ${groups.map((g) => g.name).join(', ') || 'none'})`);
  // servers.test probes each server now: the CLI runs no monitor, so servers.list alone says "unknown".
  const servers = await Promise.all(
    [...new Set(shown.flatMap((g) => g.serverIds))].map(async (id) => {
      const server = await call('servers.test', { id });
      // As a client reaches it: an HTTPS group's gateway over HTTPS, trusting the group CA.
      const https = groups.find((g) => g.serverIds.includes(id) && g.tls === 'https' && g.authority);
      return { server, health: await gatewayHealth(server.host, undefined, undefined, https?.authority?.certificate).catch((err: unknown) => BerthError.from(err)) };
    }),
  );
  const views = await Promise.all(models.map((model) => call('deploy.model', { model })));
  return shown.map((group) => groupStatus(group, servers.filter((s) => group.serverIds.includes(s.server.id)), views));
}

type Probed = { server: ServerView; health: GatewayHealth | BerthError };

function groupStatus(group: GroupView, servers: Probed[], views: ModelView[]): GroupStatus {
  return {
    name: group.name,
    replicas: group.replicas,
    revision: group.revision,
    changedBy: group.changedBy,
    changedAt: group.changedAt,
    tls: group.tls,
    listen: group.listen,
    servers: servers.map(({ server, health }) => ({
      name: server.name,
      host: server.host,
      state: server.state,
      error: server.lastError,
      login: server.login,
      gateway:
        health instanceof BerthError
          ? { ok: false, revision: null, configError: null, error: health.message }
          : { ok: health.configError === null, revision: health.revision, configError: health.configError, error: null },
    })),
    models: views
      .filter((view) => view.groups.includes(group.name))
      .map((view) => ({ name: view.name, public: view.public, versions: view.versions.map((v) => versionStatus(view.name, v, servers)) })),
  };
}

function versionStatus(model: string, version: ModelView['versions'][number], servers: Probed[]): VersionStatus {
  const replicas: VersionStatus['replicas'] = {};
  for (const { server, health } of servers) {
    const counts = health instanceof BerthError ? undefined : health.models[model]?.versions[String(version.number)];
    if (counts) replicas[server.name] = counts;
  }
  return { number: version.number, state: version.state, aliases: version.aliases, replicas, createdBy: version.createdBy, createdAt: version.createdAt };
}

const loginText = (login: ServerLogin | null) => (!login ? 'login unknown' : login.kind === 'shell' ? 'login shell' : `login ${login.name} (${login.role})`);

function serverLine(s: ServerStatus): string {
  const state = s.state === 'up' ? `up, ${loginText(s.login)}` : `${s.state}${s.error ? `: ${s.error}` : ''}`;
  const gateway = s.gateway.ok ? 'gateway ok' : `gateway ${s.gateway.configError ? `refuses its table: ${s.gateway.configError}` : `down: ${s.gateway.error}`}`;
  return `  server ${s.name} ${s.host}: ${state}; ${gateway}`;
}

function versionLine(v: VersionStatus): string {
  const health = Object.entries(v.replicas).map(([server, r]) => `${server} ${r.healthy}/${r.replicas}`);
  return `    v${v.number}\t${v.state}\t${v.aliases.join(',') || '-'}\t${health.join(', ') || '-'}`;
}

export function formatStatus(groups: GroupStatus[]): string {
  if (!groups.length) return 'No server groups yet (see `berth groups create`).';
  return groups
    .flatMap((g) => [
      `group ${g.name}: revision ${g.revision ?? 'unpublished'}${g.changedBy ? ` by ${g.changedBy} at ${g.changedAt}` : ''}, replicas per server: ${g.replicas}, ${g.tls === 'https' ? 'HTTPS only' : 'plain HTTP'}, listening on ${g.listen === 'host' ? "each server's address" : 'every interface'}`,
      ...(g.tls === 'off' ? [`  ${plainHttpWarning(g.name)}`] : []),
      ...(g.servers.length === 1 ? [`  ${noRedundancyWarning(g.name)}`] : []),
      ...g.servers.map(serverLine),
      ...(g.models.length ? g.models.flatMap((m) => [`  model ${m.name} (${m.public ? 'public' : 'private'})`, ...m.versions.map(versionLine)]) : ['  no models']),
    ])
    .join('\n');
}

/** Prints deploy and rollback progress: readable lines, or with `--json` one JSON object per event line. */
export function deployEventPrinter(asJson: boolean, io: CliIo): (event: DeployEvent) => void {
  return (event) => {
    if (asJson) io.out(JSON.stringify(event));
    else if (event.type === 'progress') io.out(`[${event.server}] ${event.phase}: ${event.message}`);
    else if (event.type === 'log') io.out(event.message);
    else io.out(`${event.model} v${event.version} is live (${(event.durationMs / 1000).toFixed(1)} s)`);
  };
}
