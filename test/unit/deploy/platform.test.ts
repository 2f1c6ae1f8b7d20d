import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { buildPlatformFor } from '../../../electron/main/services/deploy/platform';
import { createOrchestrator, type OrchestratorDeps } from '../../../electron/main/services/deploy/orchestrator';
import { goTarget } from '../../../electron/main/services/gateway/compile';
import { createServerRegistry } from '../../../electron/main/services/servers/registry';
import { openDatabase } from '../../../electron/main/services/store/database';
import type { Call } from '../../../electron/main/rpc/cli-kit';
import { groupPlatforms, imagePlatform, onePlatform, platformOfArch, requireImagePlatform } from '../../../shared/platform';

const servers = (...list: [string, string | null][]) => list.map(([name, platform]) => ({ name, platform }));

describe('platforms from server facts and image inspects', () => {
  it("maps Docker's Architecture (and Go/Node names) to linux/<arch>", () => {
    expect(platformOfArch('x86_64')).toBe('linux/amd64');
    expect(platformOfArch('aarch64')).toBe('linux/arm64');
    expect(platformOfArch('amd64')).toBe('linux/amd64');
    expect(platformOfArch('arm64')).toBe('linux/arm64');
    expect(platformOfArch('x64')).toBe('linux/amd64');
    expect(platformOfArch('armv7l')).toBe('linux/arm/v7');
    expect(platformOfArch('unknown')).toBeNull();
    expect(platformOfArch(null)).toBeNull();
  });

  it("names an image's platform as inspect gives it, arm64's v8 variant left out", () => {
    expect(imagePlatform({ Os: 'linux', Architecture: 'amd64' })).toBe('linux/amd64');
    expect(imagePlatform({ Os: 'linux', Architecture: 'arm64', Variant: 'v8' })).toBe('linux/arm64');
    expect(imagePlatform({ Os: 'linux', Architecture: 'arm', Variant: 'v7' })).toBe('linux/arm/v7');
  });

  it('gives the Go target of a platform', () => {
    expect(goTarget('linux/arm64')).toEqual({ GOOS: 'linux', GOARCH: 'arm64' });
    expect(goTarget('linux/arm/v7')).toEqual({ GOOS: 'linux', GOARCH: 'arm', GOARM: '7' });
  });
});

describe("a group's platform", () => {
  it('is the one its servers share', () => {
    expect(groupPlatforms(servers(['tb1', 'linux/amd64'], ['tb2', 'linux/amd64']))).toEqual({ platform: 'linux/amd64', platforms: ['linux/amd64'] });
  });

  it('is none when they mix platforms, which are all listed', () => {
    expect(groupPlatforms(servers(['tb1', 'linux/arm64'], ['tb2', 'linux/amd64'], ['tb3', 'linux/amd64']))).toEqual({
      platform: null,
      platforms: ['linux/amd64', 'linux/arm64'],
    });
  });

  it('is not known while a server has not told its own', () => {
    expect(groupPlatforms(servers(['tb1', 'linux/amd64'], ['tb2', null]))).toEqual({ platform: null, platforms: ['linux/amd64'] });
  });

  it('is derived in the group view from the architecture the facts stored', () => {
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'berth-platform-')), 'berth.db'));
    const registry = createServerRegistry(db);
    const add = (name: string) =>
      registry.insert({ name, host: `${name}.lan`, port: 22, username: 'root', auth: 'agent', keySecretId: null, keyOrigin: null, hostKeyType: 'ssh-ed25519', hostKeyFingerprint: `SHA256:${name}` }).id;
    const [a, b] = [add('a1'), add('a2')];
    const group = registry.createGroup('prod', 2);
    registry.updateGroup(group.id, { serverIds: [a, b] });
    expect(registry.group('prod')).toMatchObject({ platform: null, platforms: [] });
    registry.setArch(a, 'x86_64');
    registry.setArch(b, 'x86_64');
    expect(registry.group('prod')).toMatchObject({ platform: 'linux/amd64', platforms: ['linux/amd64'] });
    registry.setArch(b, 'aarch64');
    expect(registry.groups()[0]).toMatchObject({ platform: null, platforms: ['linux/amd64', 'linux/arm64'] });
    db.close();
  });
});

describe('refusals', () => {
  it('refuses a mixed group, naming the servers of each platform', () => {
    const refused = (() => {
      try {
        onePlatform('prod', servers(['tb1', 'linux/amd64'], ['tb2', 'linux/arm64'], ['tb3', 'linux/amd64']));
      } catch (err) {
        return err;
      }
    })();
    expect(refused).toMatchObject({
      kind: 'Conflict',
      message: expect.stringMatching(/^Group "prod" mixes platforms: linux\/amd64 \(tb1, tb3\) and linux\/arm64 \(tb2\)\. An image runs on one platform/),
    });
  });

  it('refuses an image of another platform, saying what to do', () => {
    expect(() => requireImagePlatform('berth/iris:b1', 'linux/arm64', 'prod', servers(['tb1', 'linux/amd64']))).toThrow(
      "berth/iris:b1 is linux/arm64, tb1 is linux/amd64: build for linux/amd64 (the group's platform) or on a server of the group",
    );
    expect(() => requireImagePlatform('berth/iris:b1', 'linux/arm64', 'prod', servers(['tb1', 'linux/amd64'], ['tb2', 'linux/amd64']))).toThrow(
      'tb1 and tb2 are linux/amd64',
    );
    expect(() => requireImagePlatform('berth/iris:b1', 'linux/amd64', 'prod', servers(['tb1', 'linux/amd64'], ['tb2', 'linux/amd64']))).not.toThrow();
  });

  it('a deploy to a mixed group is refused before any lock is taken or byte sent', async () => {
    const withModelLock = vi.fn();
    const send = vi.fn();
    const names: Record<number, string> = { 1: 'tb1', 2: 'tb2', 3: 'tb3' };
    const deps = {
      store: { findModel: () => null },
      registry: { group: () => ({ id: 1, name: 'prod', replicas: 2, serverIds: [1, 2, 3] }), get: (id: number) => ({ name: names[id] }) },
      connection: async () => ({}),
      images: { localId: async () => 'sha256:1', localPlatform: async () => 'linux/amd64', send, present: async () => false },
      gateway: { ensure: vi.fn() },
      platformOf: async (id: number) => (id === 2 ? 'linux/arm64' : 'linux/amd64'),
      groups: { withModelLock },
      actor: () => 'me',
    } as unknown as OrchestratorDeps;
    const error = await createOrchestrator(deps)
      .deploy({ model: 'iris', imageRef: 'berth/iris:b1', group: 'prod' })
      .catch((e) => e);
    expect(error).toMatchObject({ kind: 'Conflict', message: expect.stringContaining('linux/amd64 (tb1, tb3) and linux/arm64 (tb2)') });
    expect(withModelLock).not.toHaveBeenCalled();
    expect(send).not.toHaveBeenCalled();
  });

  it('`berth deploy <path>` refuses a mixed group before building, and builds for a uniform one', async () => {
    const facts = (arch: string) => ({ arch });
    const fake = (archs: string[]): Call =>
      (async (name: string, input: { id?: number }) => {
        if (name === 'groups.list') return [{ name: 'prod', serverIds: archs.map((_, i) => i + 1) }];
        if (name === 'servers.test') return { name: `tb${input.id}`, facts: facts(archs[input.id! - 1]) };
        throw new Error(`unexpected call ${name}`);
      }) as unknown as Call;
    expect(await buildPlatformFor(fake(['aarch64', 'aarch64']), 'prod')).toBe('linux/arm64');
    await expect(buildPlatformFor(fake(['x86_64', 'aarch64']), 'prod')).rejects.toThrow(/linux\/amd64 \(tb1\) and linux\/arm64 \(tb2\)/);
  });
});
