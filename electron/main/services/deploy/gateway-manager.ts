import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BerthError } from '../../../../shared/errors';
import { buildGatewayImage, gatewayContextFiles, gatewaySourceDir } from '../gateway/image';
import { ensureGateway } from '../gateway/install';
import type { SshConnection } from '../transport/ssh';
import type { GatewayManager, ImageSender } from './orchestrator';

export interface GatewayManagerDeps {
  docker: Docker;
  images: ImageSender;
  connection(serverId: number): Promise<SshConnection>;
  builderImage(): string;
  port: number;
}

/** The gateway image is named by a hash of its sources, so a Berth upgrade that changes the gateway rolls it out. */
function gatewayTag(): string {
  const dir = gatewaySourceDir();
  const hash = createHash('sha256');
  for (const file of gatewayContextFiles(dir)) hash.update(file).update(readFileSync(join(dir, file)));
  return `berth/gateway:${hash.digest('hex').slice(0, 12)}`;
}

/** Builds the gateway once locally, sends it like a model image, and keeps `berth-gateway` running on each server. */
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
    async ensure(serverIds, signal) {
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
      await Promise.all(serverIds.map(async (id) => ensureGateway(await deps.connection(id), { image: tag, port: deps.port })));
    },
  };
}
