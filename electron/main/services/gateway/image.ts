import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { BerthError } from '../../../../shared/errors';

/** The builder image real users get; tests use berth-base/go-builder:bookworm (test/bed/go-builder-image.sh). */
export const DEFAULT_GATEWAY_BUILDER = 'golang:1.22-bookworm';

export interface BuildGatewayImageOptions {
  /** Image with a Go toolchain for the build stage (BUILDER_IMAGE in resources/gateway/Dockerfile). */
  builderImage: string;
  /** Tag of the result, e.g. berth/gateway:0.1.0. */
  tag: string;
  /** Baked into the binary; shown by /_berth/health and `gateway -version`. */
  version?: string;
  /** The gateway sources (default: resources/gateway of this installation). */
  contextDir?: string;
  /** Build output as it arrives. */
  onOutput?: (text: string) => void;
  signal?: AbortSignal;
}

export interface BuiltGatewayImage {
  tag: string;
  imageId: string;
}

const LOG_TAIL_LINES = 60;

/** Finds resources/gateway in development (repo checkout), in the built app and in a packaged app. */
export function gatewaySourceDir(): string {
  const candidates: string[] = [];
  if (process.env.BERTH_GATEWAY_SOURCES) candidates.push(process.env.BERTH_GATEWAY_SOURCES);
  const resourcesPath = (process as { resourcesPath?: string }).resourcesPath;
  if (resourcesPath) candidates.push(path.join(resourcesPath, 'gateway'), path.join(resourcesPath, 'resources', 'gateway'));
  try {
    let dir = path.dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 8; i++) {
      candidates.push(path.join(dir, 'resources', 'gateway'));
      dir = path.dirname(dir);
    }
  } catch {
    /* no file URL (bundled): rely on the other candidates */
  }
  candidates.push(path.join(process.cwd(), 'resources', 'gateway'));
  for (const c of candidates) if (existsSync(path.join(c, 'Dockerfile')) && existsSync(path.join(c, 'go.mod'))) return c;
  throw new BerthError('Internal', 'The gateway sources (resources/gateway) are missing from the installation; reinstall Berth.');
}

/** The build context: the Dockerfile, go.mod and the non-test Go files (tests don't change the image). */
export function gatewayContextFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f === 'Dockerfile' || f === '.dockerignore' || f === 'go.mod' || f === 'go.sum' || (f.endsWith('.go') && !f.endsWith('_test.go')))
    .sort();
}

/**
 * Builds the gateway image on a Docker engine: a static Go binary in a `scratch` image. The build stage's
 * intermediate images (kept by the classic builder) carry a per-build label and are removed afterwards.
 * Throws BuildFailed with the tail of the build log.
 */
export async function buildGatewayImage(docker: Docker, options: BuildGatewayImageOptions): Promise<BuiltGatewayImage> {
  const dir = options.contextDir ?? gatewaySourceDir();
  const buildId = randomUUID();
  const tail: string[] = [];
  let failure: string | undefined;
  const remember = (text: string) => {
    options.onOutput?.(text);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      tail.push(line.trimEnd());
      if (tail.length > LOG_TAIL_LINES) tail.shift();
    }
  };
  const failed = (reason: string) =>
    new BerthError('BuildFailed', `Building the gateway image ${options.tag} failed: ${reason}\n${tail.join('\n')}`, { log: tail.join('\n') });

  try {
    const stream = await docker.buildImage(
      { context: dir, src: gatewayContextFiles(dir) },
      {
        t: options.tag,
        buildargs: { BUILDER_IMAGE: options.builderImage, GATEWAY_VERSION: options.version ?? 'dev', BERTH_BUILD_ID: buildId },
        rm: true,
        forcerm: true,
        abortSignal: options.signal,
      },
    );
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (event: { stream?: string; error?: string; status?: string }) => {
          if (event.stream) remember(event.stream);
          else if (event.status) remember(`${event.status}\n`);
          if (event.error) {
            failure = event.error.trim();
            remember(`${event.error}\n`);
          }
        },
      );
    });
  } catch (err) {
    if (options.signal?.aborted) throw new BerthError('Cancelled', `Building the gateway image ${options.tag} was cancelled`);
    throw failed(err instanceof Error ? err.message : String(err));
  } finally {
    await removeBuildStage(docker, buildId);
  }
  if (failure) {
    const hint = /pull access denied|not found|manifest unknown|no such host|dial tcp/i.test(failure)
      ? ` (is the builder image ${options.builderImage} in the local engine? docker pull it, or build berth-base/go-builder:bookworm with test/bed/go-builder-image.sh)`
      : '';
    throw failed(failure + hint);
  }
  const image = await docker.getImage(options.tag).inspect();
  return { tag: options.tag, imageId: image.Id };
}

/** Removes the build stage's images of one build (newest first, so parents are free when their turn comes). */
async function removeBuildStage(docker: Docker, buildId: string): Promise<void> {
  const images = await docker
    .listImages({ all: true, filters: { label: [`berth.gateway.build-stage=${buildId}`] } })
    .catch(() => []);
  images.sort((a, b) => b.Created - a.Created);
  for (const image of images) {
    await docker
      .getImage(image.Id)
      .remove({ noprune: false })
      .catch(() => undefined); // already gone with a child, or in use: harmless leftovers
  }
}

/**
 * The gateway binary out of a built gateway image (`/gateway`, a static Linux binary): installed on servers as
 * berth-shell, the forced command of every team member's key. Read from a created, never started, container.
 */
export async function gatewayBinary(docker: Docker, tag: string): Promise<Buffer> {
  const container = await docker.createContainer({ Image: tag, name: `berth-gateway-binary-${randomUUID().slice(0, 8)}` });
  try {
    const archive = await container.getArchive({ path: '/gateway' });
    return await firstFileOf(archive);
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

async function firstFileOf(archive: NodeJS.ReadableStream): Promise<Buffer> {
  const extract = tar.extract();
  const found = new Promise<Buffer>((resolve, reject) => {
    let file: Buffer | undefined;
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file' && !file) file = Buffer.concat(chunks);
        next();
      });
    });
    extract.on('finish', () => (file ? resolve(file) : reject(new BerthError('Internal', 'The gateway image has no /gateway binary'))));
    extract.on('error', reject);
  });
  archive.pipe(extract as unknown as NodeJS.WritableStream);
  return found;
}
