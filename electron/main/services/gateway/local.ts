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
  /** The local tag, built first if this set of sources has none yet. */
  image(signal?: AbortSignal): Promise<string>;
  /** The gateway binary (berth-shell on the servers) out of that image. */
  shellBinary(): Promise<ShellBinary>;
}

/** The gateway image is named by a hash of its sources, so a Berth upgrade that changes the gateway rolls it out. */
function gatewayTag(): string {
  const dir = gatewaySourceDir();
  const hash = createHash('sha256');
  for (const file of gatewayContextFiles(dir)) hash.update(file).update(readFileSync(join(dir, file)));
  return `berth/gateway:${hash.digest('hex').slice(0, 12)}`;
}

/** Memoizes a promise (made with the first call's arguments), forgetting it when it fails so the next call tries again. */
function once<A extends unknown[], T>(make: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let pending: Promise<T> | undefined;
  return (...args) =>
    (pending ??= make(...args).catch((err) => {
      pending = undefined;
      throw err;
    }));
}

export function createGatewayImageSource(deps: { docker: Docker; builderImage(): string }): GatewayImageSource {
  const image = once(async (signal?: AbortSignal) => {
    const tag = gatewayTag();
    const exists = await deps.docker.getImage(tag).inspect().then(
      () => true,
      () => false,
    );
    if (!exists) await buildGatewayImage(deps.docker, { builderImage: deps.builderImage(), tag, signal });
    return tag;
  });
  const shellBinary = once(async () => {
    const bytes = await gatewayBinary(deps.docker, await image());
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  return { image, shellBinary };
}
