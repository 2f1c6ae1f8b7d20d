/**
 * The gateway image as this Berth builds it locally, once per set of sources: sent to servers for the gateway and
 * the agent, and the source of the berth-shell binary every team member's key runs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { buildGatewayImage, gatewayBinary, gatewayContextFiles, gatewaySourceDir } from './image';

export interface ShellBinary {
  bytes: Buffer;
  sha256: string;
}

export interface GatewayImageSource {
  /** The Berth version its images are labelled with (berth.gateway.version), which orders gateways of teammates' Berths. */
  readonly version: string;
  /** The local tag of the gateway for a platform (linux/amd64, linux/arm64), built first if these sources have none for it yet. */
  image(platform: string, options?: { signal?: AbortSignal; log?: (message: string) => void }): Promise<string>;
  /** The gateway binary for a platform (berth-shell on the servers of that platform) out of that image. */
  shellBinary(platform: string): Promise<ShellBinary>;
}

/**
 * The gateway image is named by a hash of its sources, so a Berth upgrade that changes the gateway rolls it out, and
 * by its architecture: one local tag holds one platform's image, and each server gets its own.
 */
function gatewayTag(platform: string): string {
  const dir = gatewaySourceDir();
  const hash = createHash('sha256');
  for (const file of gatewayContextFiles(dir)) hash.update(file).update(readFileSync(join(dir, file)));
  return `berth/gateway:${hash.digest('hex').slice(0, 12)}-${platform.split('/').slice(1).join('-')}`;
}

/** Memoizes a promise per key (made with the first call's arguments), forgetting it when it fails so the next call tries again. */
function oncePer<A extends unknown[], T>(make: (key: string, ...args: A) => Promise<T>): (key: string, ...args: A) => Promise<T> {
  const pending = new Map<string, Promise<T>>();
  return (key, ...args) => {
    if (!pending.has(key)) {
      pending.set(
        key,
        make(key, ...args).catch((err) => {
          pending.delete(key);
          throw err;
        }),
      );
    }
    return pending.get(key)!;
  };
}

export function createGatewayImageSource(deps: { docker: Docker; builderImage(): string; version: string }): GatewayImageSource {
  const image = oncePer(async (platform: string, options: { signal?: AbortSignal; log?: (message: string) => void } = {}) => {
    const tag = gatewayTag(platform);
    const exists = await deps.docker.getImage(tag).inspect().then(
      () => true,
      () => false,
    );
    if (!exists) {
      const built = await buildGatewayImage(deps.docker, { builderImage: deps.builderImage(), tag, platform, version: deps.version, signal: options.signal });
      options.log?.(`Built the gateway image ${tag} for ${platform} with ${built.compiledWith}`);
    }
    return tag;
  });
  const shellBinary = oncePer(async (platform: string) => {
    const bytes = await gatewayBinary(deps.docker, await image(platform));
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  return { version: deps.version, image, shellBinary };
}
