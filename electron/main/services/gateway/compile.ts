/**
 * Compiling the gateway with this machine's own Go toolchain: Go cross-compiles a static binary for any platform
 * (GOOS/GOARCH, CGO_ENABLED=0) natively, so an arm64 server's gateway needs neither emulation nor an image pulled
 * from a registry. Without `go`, image.ts compiles in the builder image instead.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BerthError } from '../../../../shared/errors';
import { platformOfArch } from '../../../../shared/platform';

const run = promisify(execFile);

/** The Go environment of a build for `platform` (os/arch[/variant], e.g. linux/arm/v7 sets GOARM=7). */
export function goTarget(platform: string): Record<string, string> {
  const [os, arch, variant] = platform.split('/');
  return { GOOS: os, GOARCH: arch, ...(arch === 'arm' && variant ? { GOARM: variant.replace(/^v/, '') } : {}) };
}

/** `go version` of the toolchain on PATH (e.g. "go1.19.8 linux/amd64"), or null when there is none that runs. */
export async function findGo(command = 'go'): Promise<string | null> {
  try {
    const { stdout } = await run(command, ['version'], { timeout: 15_000 });
    return stdout.trim().replace(/^go version /, '');
  } catch {
    return null;
  }
}

/** This process's own platform, where a binary built for it can be run (to print its version). */
const nativePlatform = () => (process.platform === 'linux' ? platformOfArch(process.arch) : null);

/** Compiles resources/gateway for `platform` with the local toolchain; the build output goes to `out`. */
export async function compileWithGo(options: { dir: string; platform: string; version: string; out: (text: string) => void; signal?: AbortSignal }): Promise<Buffer> {
  const tmp = await mkdtemp(join(tmpdir(), 'berth-gateway-'));
  const file = join(tmp, 'gateway');
  // The same settings as Dockerfile.compile: static, reproducible paths, no module downloads, no toolchain switch.
  const env = { ...process.env, ...goTarget(options.platform), CGO_ENABLED: '0', GOFLAGS: '-trimpath', GOPROXY: 'off', GOTOOLCHAIN: 'local', GOWORK: 'off' };
  try {
    const built = await run('go', ['build', '-ldflags', `-s -w -X main.gatewayVersion=${options.version}`, '-o', file, '.'], {
      cwd: options.dir,
      env,
      signal: options.signal,
      maxBuffer: 16 << 20,
    });
    options.out(built.stdout + built.stderr);
    if (options.platform === nativePlatform()) options.out((await run(file, ['-version'], { timeout: 15_000 })).stdout);
    return await readFile(file);
  } catch (err) {
    if (options.signal?.aborted) throw new BerthError('Cancelled', 'Compiling the gateway was cancelled');
    const e = err as { stderr?: string; message?: string };
    throw new BerthError('BuildFailed', `Compiling the gateway for ${options.platform} with the local Go toolchain failed: ${(e.stderr || e.message || String(err)).trim()}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
