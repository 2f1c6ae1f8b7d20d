import { BerthError } from '../../../../shared/errors';
import type { GatewayImageSource } from '../gateway/local';
import { ensureAgent } from '../agent/install';
import { ensureGateway } from '../gateway/install';
import type { ServerLayout } from '../remote/layout';
import type { SshConnection } from '../transport/ssh';
import type { GatewayManager, ImageSender } from './orchestrator';

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
    async ensure(serverIds, requestLog, signal) {
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
}
