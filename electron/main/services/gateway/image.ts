import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { BerthError } from '../../../../shared/errors';
import { imagePlatform } from '../../../../shared/platform';
import { resourceCandidates } from '../resources';
import { compileWithGo, findGo, goTarget } from './compile';

/** The builder image real users get; tests use berth-base/go-builder:bookworm (test/bed/go-builder-image.sh). */
export const DEFAULT_GATEWAY_BUILDER = 'golang:1.22-bookworm';

export interface BuildGatewayImageOptions {
  /** Image with a Go toolchain, compiling where this machine has none (BUILDER_IMAGE in resources/gateway/Dockerfile.compile). */
  builderImage: string;
  /** Tag of the result, e.g. berth/gateway:0.1.0. */
  tag: string;
  /** What the image is for (linux/amd64, linux/arm64); default: the local engine's own platform. */
  platform?: string;
  /** `go version` of the local toolchain to compile with; null: compile in the builder image. Default: `go` on PATH, if any. */
  go?: string | null;
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
  platform: string;
  /** What compiled the binary, for the deploy log: the local Go toolchain or the builder image. */
  compiledWith: string;
}

const LOG_TAIL_LINES = 60;

/** The gateway sources: BERTH_GATEWAY_SOURCES, else the packaged app's or the repo's (services/resources.ts). */
export function gatewaySourceDir(): string {
  const candidates = [process.env.BERTH_GATEWAY_SOURCES ?? [], resourceCandidates('gateway')].flat();
  for (const c of candidates) if (existsSync(path.join(c, 'Dockerfile')) && existsSync(path.join(c, 'go.mod'))) return c;
  throw new BerthError('Internal', 'The gateway sources (resources/gateway) are missing from the installation; reinstall Berth.');
}

/** What makes the image: both Dockerfiles, go.mod and the non-test Go files (tests don't change the image). */
export function gatewayContextFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('Dockerfile') || f === '.dockerignore' || f === 'go.mod' || f === 'go.sum' || (f.endsWith('.go') && !f.endsWith('_test.go')))
    .sort();
}

/** A build's output: passed on as it arrives, its tail kept for the error. */
function buildLog(onOutput?: (text: string) => void) {
  const lines: string[] = [];
  return {
    tail: () => lines.join('\n'),
    out: (text: string) => {
      onOutput?.(text);
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        lines.push(line.trimEnd());
        if (lines.length > LOG_TAIL_LINES) lines.shift();
      }
    },
  };
}
type BuildLog = ReturnType<typeof buildLog>;

/**
 * Builds the gateway image for a platform: the static Go binary, cross-compiled with the local Go toolchain when
 * there is one (no registry, no emulation), else in the builder image, packed into a `scratch` image made for that
 * platform. Throws BuildFailed with the tail of the build log.
 */
export async function buildGatewayImage(docker: Docker, options: BuildGatewayImageOptions): Promise<BuiltGatewayImage> {
  const dir = options.contextDir ?? gatewaySourceDir();
  const log = buildLog(options.onOutput);
  const version = options.version ?? 'dev';
  const { signal } = options;
  try {
    const platform = options.platform ?? (await enginePlatform(docker));
    const go = options.go === undefined ? await findGo() : options.go;
    const compiledWith = go ? `the local Go toolchain (${go})` : `the builder image ${options.builderImage}`;
    log.out(`Compiling the gateway for ${platform} with ${compiledWith}\n`);
    const binary = go
      ? await compileWithGo({ dir, platform, version, out: log.out, signal })
      : await compileInBuilder(docker, { dir, platform, version, builderImage: options.builderImage, signal }, log);
    const imageId = await packImage(docker, { dir, platform, version, tag: options.tag, binary, signal }, log);
    return { tag: options.tag, imageId, platform, compiledWith };
  } catch (err) {
    if (signal?.aborted) throw new BerthError('Cancelled', `Building the gateway image ${options.tag} was cancelled`);
    if (err instanceof BerthError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new BerthError('BuildFailed', `Building the gateway image ${options.tag} failed: ${reason}\n${log.tail()}`, { log: log.tail() });
  }
}

async function enginePlatform(docker: Docker): Promise<string> {
  const version = await docker.version();
  return `${version.Os}/${version.Arch}`;
}

/** Compiles in the builder image (resources/gateway/Dockerfile.compile), natively on the engine, and takes the binary out. */
async function compileInBuilder(
  docker: Docker,
  o: { dir: string; platform: string; version: string; builderImage: string; signal?: AbortSignal },
  log: BuildLog,
): Promise<Buffer> {
  const buildId = randomUUID();
  const tag = `berth/gateway-compile:${buildId.slice(0, 12)}`;
  try {
    await runBuild(
      docker,
      { context: o.dir, src: gatewayContextFiles(o.dir) },
      {
        t: tag,
        dockerfile: 'Dockerfile.compile',
        buildargs: { BUILDER_IMAGE: o.builderImage, GATEWAY_VERSION: o.version, BERTH_BUILD_ID: buildId, ...goTarget(o.platform) },
        rm: true,
        forcerm: true,
        abortSignal: o.signal,
      },
      log,
    ).catch((err: Error) => {
      const missing = /pull access denied|not found|manifest unknown|no such host|dial tcp/i.test(err.message);
      throw missing
        ? new Error(`${err.message} (is the builder image ${o.builderImage} in the local engine? docker pull it, or build berth-base/go-builder:bookworm with test/bed/go-builder-image.sh)`)
        : err;
    });
    return await fileOf(docker, tag, '/out/gateway');
  } finally {
    await removeBuildStage(docker, buildId);
  }
}

/**
 * Packs the binary into the gateway image (resources/gateway/Dockerfile) for `platform`. Without the layer cache: the
 * classic builder's cache ignores the platform, and would answer an arm64 build with the amd64 image's layers.
 */
async function packImage(
  docker: Docker,
  o: { dir: string; platform: string; version: string; tag: string; binary: Buffer; signal?: AbortSignal },
  log: BuildLog,
): Promise<string> {
  const context = tar.pack();
  context.entry({ name: 'Dockerfile' }, readFileSync(path.join(o.dir, 'Dockerfile')));
  context.entry({ name: 'gateway', mode: 0o755 }, o.binary);
  // Node's copy of Mozilla's roots: the same bundle whatever compiled the binary and whatever this machine has.
  context.entry({ name: 'ca-certificates.crt' }, `${rootCertificates.join('\n')}\n`);
  context.finalize();
  await runBuild(docker, context as unknown as NodeJS.ReadableStream, { t: o.tag, platform: o.platform, nocache: true, rm: true, forcerm: true, buildargs: { GATEWAY_VERSION: o.version }, abortSignal: o.signal }, log);
  const image = await docker.getImage(o.tag).inspect();
  if (imagePlatform(image) !== o.platform) {
    // Never leave the tag: the next deploy would take it for this platform's gateway.
    await docker.getImage(o.tag).remove().catch(() => undefined);
    throw new Error(`the engine made a ${imagePlatform(image)} image instead of ${o.platform} (is it too old for the build's platform option?)`);
  }
  return image.Id;
}

/** Runs one classic-builder build, passing its output on; rejects with the engine's error. */
async function runBuild(docker: Docker, context: Parameters<Docker['buildImage']>[0], options: Docker.ImageBuildOptions, log: BuildLog): Promise<void> {
  const stream = await docker.buildImage(context, options);
  let failure: string | undefined;
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (event: { stream?: string; error?: string; status?: string }) => {
        if (event.stream) log.out(event.stream);
        else if (event.status) log.out(`${event.status}\n`);
        if (event.error) {
          failure = event.error.trim();
          log.out(`${event.error}\n`);
        }
      },
    );
  });
  if (failure) throw new Error(failure);
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
export function gatewayBinary(docker: Docker, tag: string): Promise<Buffer> {
  return fileOf(docker, tag, '/gateway');
}

/** One file of an image, from a created, never started, container (so an image of another platform works too). */
async function fileOf(docker: Docker, image: string, file: string): Promise<Buffer> {
  const container = await docker.createContainer({ Image: image, name: `berth-gateway-binary-${randomUUID().slice(0, 8)}` });
  try {
    return await firstFileOf(await container.getArchive({ path: file }), `${image} has no ${file}`);
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

async function firstFileOf(archive: NodeJS.ReadableStream, missing: string): Promise<Buffer> {
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
    extract.on('finish', () => (file ? resolve(file) : reject(new BerthError('Internal', missing))));
    extract.on('error', reject);
  });
  archive.pipe(extract as unknown as NodeJS.WritableStream);
  return found;
}
