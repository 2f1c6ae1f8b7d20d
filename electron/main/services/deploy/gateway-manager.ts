import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BerthError } from '../../../../shared/errors';
import { buildGatewayImage, gatewayContextFiles, gatewaySourceDir } from '../gateway/image';
import { ensureAgent } from '../agent/install';
import { ensureGateway } from '../gateway/install';
import type { ServerLayout } from '../remote/layout';
import type { SshConnection } from '../transport/ssh';
import type { GatewayManager, ImageSender } from './orchestrator';

export interface GatewayManagerDeps {
  docker: Docker;
  images: ImageSender;
  connection(serverId: number): Promise<SshConnection>;
  builderImage(): string;
  port: number;
  /** Where the agent runs beside the gateway; null: no agent (a test bed shared by several layouts). */
  agentLayout: ServerLayout | null;
}

/** The gateway rotates its inference log at this size; the group's bound sets how many files it keeps. */
const REQUEST_LOG_FILE_BYTES = 10 << 20;

/** The gateway image is named by a hash of its sources, so a Berth upgrade that changes the gateway rolls it out. */
function gatewayTag(): string {
  const dir = gatewaySourceDir();
  const hash = createHash('sha256');
  for (const file of gatewayContextFiles(dir)) hash.update(file).update(readFileSync(join(dir, file)));
  return `berth/gateway:${hash.digest('hex').slice(0, 12)}`;
}

/** Builds the gateway once locally, sends it like a model image, and keeps `berth-gateway` and `berth-agent` running on each server. */
export function createGatewayManager(deps: GatewayManagerDeps): GatewayManager {
  let built: Promise<string> | undefined;

  async function localImage(signal?: AbortSignal): Promise<string> {
    const tag = gatewayTag();
    const exists = await deps.docker.getImage(tag).inspect().then(
      () => true,
      () => false,
    );
    if (!exists) await buildGatewayImage(deps.docker, { builderImage: deps.builderImage(), tag, signal });
    return tag;
  }

  return {
    async ensure(serverIds, requestLog, signal) {
      built ??= localImage(signal).catch((err) => {
        built = undefined;
        throw err;
      });
      const tag = await built;
      const sent = await deps.images.send(tag, serverIds, { signal });
      const failed = [...sent].filter(([, r]) => !r.ok);
      if (failed.length) {
        const first = failed[0][1] as { ok: false; error: BerthError };
        throw new BerthError(first.error.kind, `The gateway image could not be sent: ${first.error.message}`);
      }
      await Promise.all(
        serverIds.map(async (id) => {
          const ssh = await deps.connection(id);
          await ensureGateway(ssh, { image: tag, port: deps.port, logMaxBytes: REQUEST_LOG_FILE_BYTES, logMaxFiles: Math.ceil((requestLog.maxMb * 1024 * 1024) / REQUEST_LOG_FILE_BYTES) });
          if (deps.agentLayout) await ensureAgent(ssh, deps.agentLayout, tag);
        }),
      );
    },
  };
}
