import { BerthError } from '../../../../shared/errors';
import type { GatewayImageSource } from '../gateway/local';
import { ensureAgent } from '../agent/install';
import { ensureGateway } from '../gateway/install';
import type { ServerLayout } from '../remote/layout';
import type { SshConnection } from '../transport/ssh';
import type { GatewayManager, ImageSender } from './orchestrator';
import { remoteGet } from './remote-http';

export interface GatewayManagerDeps {
  local: GatewayImageSource;
  images: ImageSender;
  connection(serverId: number): Promise<SshConnection>;
  port: number;
  /** Where the agent runs beside the gateway; null: no agent (a test bed shared by several layouts). */
  agentLayout: ServerLayout | null;
}

/** The gateway rotates its inference log at this size; the group's bound sets how many files it keeps. */
const REQUEST_LOG_FILE_BYTES = 10 << 20;

/** Builds the gateway once locally, sends it like a model image, and keeps `berth-gateway` and `berth-agent` running on each server. */
export function createGatewayManager(deps: GatewayManagerDeps): GatewayManager {
  return {
    async ensure(allServerIds, requestLog, signal) {
      const serverIds = await withoutDeployers(allServerIds);
      if (serverIds.length === 0) return;
      const tag = await deps.local.image(signal);
      const sent = await deps.images.send(tag, serverIds, { signal });
      const failed = [...sent].filter(([, r]) => !r.ok);
      if (failed.length) {
        const first = failed[0][1] as { ok: false; error: BerthError };
        throw new BerthError(first.error.kind, `The gateway image could not be sent: ${first.error.message}`);
      }
      // One server at a time: a gateway being replaced (a Berth upgrade) refuses connections for a moment, and
      // the clients fail over to the servers whose gateways keep running.
      for (const id of serverIds) {
        const ssh = await deps.connection(id);
        await ensureGateway(ssh, { image: tag, port: deps.port, logMaxBytes: REQUEST_LOG_FILE_BYTES, logMaxFiles: Math.ceil((requestLog.maxMb * 1024 * 1024) / REQUEST_LOG_FILE_BYTES) });
        if (deps.agentLayout) await ensureAgent(ssh, deps.agentLayout, tag);
      }
    },
  };

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
