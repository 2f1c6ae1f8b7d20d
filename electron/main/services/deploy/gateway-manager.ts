import { isIP } from 'node:net';
import { BerthError } from '../../../../shared/errors';
import type { GatewayImageSource } from '../gateway/local';
import { ensureAgent } from '../agent/install';
import { ensureGateway } from '../gateway/install';
import type { ServerLayout } from '../remote/layout';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';
import type { GatewayManager, ImageSender } from './orchestrator';
import { remoteGet } from './remote-http';

export interface GatewayManagerDeps {
  local: GatewayImageSource;
  images: ImageSender;
  connection(serverId: number): Promise<SshConnection>;
  /** A server's platform from its facts; each server runs the gateway built for its own. */
  platformOf(serverId: number): Promise<string | null>;
  port: number;
  /** Where the agent runs beside the gateway; null: no agent (a test bed shared by several layouts). */
  agentLayout: ServerLayout | null;
  /** The groups each server belongs to, with their HTTPS and binding settings (this Berth's cache of the group state). */
  registry: Pick<ServerRegistry, 'get' | 'group' | 'groupsOf'>;
  /**
   * Issues or renews the servers' certificates of an HTTPS group, failing if one cannot get its certificate: it runs
   * before the gateways are (re)started, since an HTTPS-only gateway without one serves nothing.
   */
  certificates(group: string, serverIds: number[]): Promise<unknown>;
}

/** The gateway rotates its inference log at this size; the group's bound sets how many files it keeps. */
const REQUEST_LOG_FILE_BYTES = 10 << 20;

/** Builds the gateway locally once per platform, sends it like a model image, and keeps `berth-gateway` and `berth-agent` running on each server. */
export function createGatewayManager(deps: GatewayManagerDeps): GatewayManager {
  return {
    async ensure(allServerIds, requestLog, options = {}) {
      const serverIds = await withoutDeployers(allServerIds);
      if (serverIds.length === 0) return;
      const tags = await imagesFor(serverIds, options);
      for (const [tag, ids] of groupBy(tags)) {
        const sent = await deps.images.send(tag, ids, { signal: options.signal });
        const failed = [...sent].filter(([, r]) => !r.ok);
        if (failed.length) {
          const first = failed[0][1] as { ok: false; error: BerthError };
          throw new BerthError(first.error.kind, `The gateway image could not be sent: ${first.error.message}`);
        }
      }
      if (options.group && deps.registry.group(options.group).tls === 'https') await deps.certificates(options.group, serverIds);
      // One server at a time: a gateway being replaced (a Berth upgrade) refuses connections for a moment, and
      // the clients fail over to the servers whose gateways keep running.
      for (const id of serverIds) {
        const ssh = await deps.connection(id);
        const tag = tags.get(id)!;
        // A failed health check puts the previous gateway back and throws: the servers after it keep theirs.
        const gateway = await ensureGateway(ssh, {
          image: tag,
          port: deps.port,
          listenAddress: listenAddressOf(id),
          logMaxBytes: REQUEST_LOG_FILE_BYTES,
          logMaxFiles: Math.ceil((requestLog.maxMb * 1024 * 1024) / REQUEST_LOG_FILE_BYTES),
          version: deps.local.version,
        });
        if (gateway.action === 'kept-newer') {
          // Its agent is that newer Berth's too.
          options.log?.(`${ssh.target.host} runs the gateway of Berth ${gateway.version}, newer than this Berth (${deps.local.version}): kept. Upgrade this Berth to change it.`);
          continue;
        }
        if (deps.agentLayout) await ensureAgent(ssh, deps.agentLayout, tag);
      }
    },
  };

  /**
   * Where a server's gateway listens: on the address it is registered by when any of its groups binds there (the
   * narrower choice wins on a shared server), else on every interface.
   */
  function listenAddressOf(serverId: number): string | undefined {
    if (!deps.registry.groupsOf(serverId).some((g) => deps.registry.group(g).listen === 'host')) return undefined;
    return addressToListenOn(deps.registry.get(serverId));
  }

  /** Each server's gateway image: the one built for its own platform. */
  async function imagesFor(serverIds: number[], options: { signal?: AbortSignal; log?: (message: string) => void }): Promise<Map<number, string>> {
    const tags = new Map<number, string>();
    for (const id of serverIds) {
      const platform = await deps.platformOf(id);
      if (!platform) {
        const { host } = (await deps.connection(id)).target;
        throw new BerthError('RemoteCommandFailed', `Docker on ${host} does not say its architecture (docker info: Architecture), so Berth cannot choose the gateway to run there`);
      }
      tags.set(id, await deps.local.image(platform, options));
    }
    return tags;
  }

  /**
   * The servers this Berth runs the gateway on: where it logs in with a viewer's or deployer's key, the server
   * refuses the gateway, so the gateway an admin installed must already answer there.
   */
  async function withoutDeployers(serverIds: number[]): Promise<number[]> {
    const mine: number[] = [];
    for (const id of serverIds) {
      const ssh = await deps.connection(id);
      if (!ssh.member || ssh.member.role === 'admin') mine.push(id);
      else if ((await remoteGet(ssh, deps.port, '/_berth/health')).status !== 200) {
        throw new BerthError(
          'Unauthorized',
          `The gateway on ${ssh.target.host} does not answer, and ${ssh.member.name} (role ${ssh.member.role}) may not start it: role admin is needed. Ask an admin to open Berth with this group's servers reachable.`,
        );
      }
    }
    return mine;
  }
}

/** The one address a gateway bound to its server's address listens on: the IP address the server is registered by. */
export function addressToListenOn(server: { name: string; host: string }): string {
  if (!isIP(server.host)) {
    throw new BerthError(
      'ValidationError',
      `${server.name} is registered as "${server.host}", not an IP address, so its gateway cannot listen on that address alone: register it by its address, or let the group listen on all interfaces`,
    );
  }
  return server.host;
}

/** The servers per gateway tag. */
function groupBy(tags: Map<number, string>): Map<string, number[]> {
  const by = new Map<string, number[]>();
  for (const [id, tag] of tags) by.set(tag, [...(by.get(tag) ?? []), id]);
  return by;
}
