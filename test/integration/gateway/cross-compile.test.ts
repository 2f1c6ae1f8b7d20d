import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { compileWithGo, findGo } from '../../../electron/main/services/gateway/compile';
import { buildGatewayImage, gatewayBinary, gatewaySourceDir } from '../../../electron/main/services/gateway/image';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const BUILDER = 'berth-base/go-builder:bookworm';
const tags = { local: 'berth/gateway:xtest-local-arm64', builder: 'berth/gateway:xtest-builder-arm64' };

/** The ELF header's machine field (e_machine, offset 18, little-endian); `file` may not be installed. */
function elfMachine(binary: Buffer): number {
  expect(binary.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  expect(binary[4]).toBe(2); // ELFCLASS64
  expect(binary[5]).toBe(1); // little-endian
  return binary.readUInt16LE(18);
}
const AARCH64 = 0xb7;
const X86_64 = 0x3e;

afterAll(async () => {
  for (const tag of Object.values(tags)) await docker.getImage(tag).remove().catch(() => undefined);
});

describe('the gateway, cross-compiled per architecture (GOOS/GOARCH, CGO_ENABLED=0)', () => {
  it('the local Go toolchain compiles an aarch64 ELF for linux/arm64, and an x86-64 one for linux/amd64', async () => {
    expect(await findGo()).toMatch(/^go1\.\d+/);
    const out: string[] = [];
    const arm = await compileWithGo({ dir: gatewaySourceDir(), platform: 'linux/arm64', version: 'xtest', out: (t) => out.push(t) });
    expect(elfMachine(arm)).toBe(AARCH64);
    const amd = await compileWithGo({ dir: gatewaySourceDir(), platform: 'linux/amd64', version: 'xtest', out: (t) => out.push(t) });
    expect(elfMachine(amd)).toBe(X86_64);
    expect(out.join('')).toMatch(/berth-gateway xtest/); // the native one proves itself
  }, 600_000);

  it('the arm64 gateway image is built without any registry or builder image: linux/arm64, the aarch64 binary FROM scratch', async () => {
    const output: string[] = [];
    const built = await buildGatewayImage(docker, {
      builderImage: 'berth-test/no-such-builder:never',
      tag: tags.local,
      platform: 'linux/arm64',
      version: 'xtest',
      onOutput: (t) => output.push(t),
    });
    expect(built).toMatchObject({ platform: 'linux/arm64', compiledWith: expect.stringMatching(/^the local Go toolchain \(go1\./) });
    expect(output.join('')).toMatch(/Compiling the gateway for linux\/arm64 with the local Go toolchain/);
    const image = await docker.getImage(tags.local).inspect();
    expect(`${image.Os}/${image.Architecture}`).toBe('linux/arm64');
    expect(image.Config.Entrypoint).toEqual(['/gateway']);
    expect(image.Config.Healthcheck?.Test).toEqual(['CMD', '/gateway', '-healthcheck']);
    expect(image.Size).toBeLessThan(20_000_000);
    expect(elfMachine(await gatewayBinary(docker, tags.local))).toBe(AARCH64);
  }, 600_000);

  it('without Go the builder image cross-compiles natively (no emulation) and says so', async () => {
    const built = await buildGatewayImage(docker, { builderImage: BUILDER, tag: tags.builder, platform: 'linux/arm64', version: 'xtest', go: null });
    expect(built).toMatchObject({ platform: 'linux/arm64', compiledWith: `the builder image ${BUILDER}` });
    const image = await docker.getImage(tags.builder).inspect();
    expect(`${image.Os}/${image.Architecture}`).toBe('linux/arm64');
    expect(elfMachine(await gatewayBinary(docker, tags.builder))).toBe(AARCH64);
    expect(await docker.listImages({ all: true, filters: { label: ['berth.gateway.build-stage'] } })).toEqual([]);
  }, 900_000);
});
