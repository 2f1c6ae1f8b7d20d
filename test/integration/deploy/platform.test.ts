import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import { createBuildRecords } from '../../../electron/main/services/build/records';
import { openDatabase } from '../../../electron/main/services/store/database';
import type { DeployEvent } from '../../../shared/deploy';
import { loadBed, registerBed } from '../bed';
import { buildTestModel, removeLocalImage } from './test-images';

const bed = loadBed();
const MODEL = 'platest';
const images = { arm: `berth/${MODEL}:arm64`, amd: `berth-test/${MODEL}:amd64` };
let home: string;
let berth: Berth;

const onServer = (i: number, command: string) => execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[i].name, command], { encoding: 'utf8' });

/**
 * An image whose platform is linux/arm64: one file in one layer, labelled as a build labels it, put together as a
 * `docker save` archive and loaded (this engine's `docker import --platform` records its own platform instead).
 */
function loadArm64(tag: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'berth-arm64-'));
  mkdirSync(join(dir, 'rootfs'));
  writeFileSync(join(dir, 'rootfs', 'hello'), 'built for arm64\n');
  execFileSync('tar', ['-C', join(dir, 'rootfs'), '-cf', join(dir, 'layer.tar'), 'hello']);
  const diffId = `sha256:${createHash('sha256').update(readFileSync(join(dir, 'layer.tar'))).digest('hex')}`;
  const config = JSON.stringify({
    architecture: 'arm64',
    os: 'linux',
    config: { Cmd: ['/hello'], Labels: { 'berth.project': MODEL } },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created_by: 'berth platform test' }],
  });
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  writeFileSync(join(dir, configName), config);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: ['layer.tar'] }]));
  execFileSync('tar', ['-C', dir, '-cf', join(dir, 'image.tar'), 'manifest.json', configName, 'layer.tar']);
  execFileSync('docker', ['load', '-i', join(dir, 'image.tar')], { stdio: 'pipe' });
  rmSync(dir, { recursive: true, force: true });
}

/** A smoke-tested build record of the image, as `berth build` would have made it. */
function recordBuild(tag: string): number {
  const db = openDatabase(join(home, 'berth.db'));
  try {
    const records = createBuildRecords(db);
    const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
    const build = records.add({
      projectPath: join(home, MODEL),
      project: MODEL,
      imageTag: tag,
      imageId,
      notebookHash: 'test',
      contextHash: null,
      dockerfile: 'FROM scratch',
      requirements: '',
      status: 'succeeded',
      sizeBytes: null,
      durationMs: null,
      platform: 'linux/arm64',
      error: null,
    });
    records.setSmoke(build.id, { status: 'passed', readyMs: 1, durationMs: 1, input: [], output: [] });
    return build.id;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  loadArm64(images.arm);
  expect(execFileSync('docker', ['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', images.arm], { encoding: 'utf8' }).trim()).toBe('linux/arm64');
  buildTestModel(images.amd, { label: 'amd64' });
  home = mkdtempSync(join(tmpdir(), 'berth-platform-'));
  berth = createBerth({ home, mode: 'cli', version: 'test' });
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  await registerBed(berth, bed, { group: { name: 'prod', replicas: 1 } });
});

afterAll(async () => {
  for (let i = 0; i < bed.servers.length; i++) {
    execFileSync(
      'ssh',
      ['-F', bed.sshConfig, bed.servers[i].name, `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q 'berth*/${MODEL}') 2>/dev/null; rm -rf /var/lib/berth/lock/${MODEL} /var/lib/berth/groups/prod; true`],
      { stdio: 'ignore' },
    );
  }
  berth?.close();
  for (const tag of Object.values(images)) removeLocalImage(tag);
});

describe('platforms on the amd64 bed', () => {
  it("the group's platform comes from its servers' facts", () => {
    expect(berth.services.registry.group('prod')).toMatchObject({ platform: 'linux/amd64', platforms: ['linux/amd64'] });
  });

  it('a linux/arm64 image is refused before anything is locked or sent, naming both platforms and what to do', async () => {
    const send = vi.spyOn(berth.services.deploy.transport, 'send');
    const events: DeployEvent[] = [];
    const error = await berth.services.deploy.deployBuild({ buildId: recordBuild(images.arm), group: 'prod' }, (e) => events.push(e), new AbortController().signal).catch((e) => e);
    const names = bed.servers.map((s) => s.name);
    expect(error).toMatchObject({
      kind: 'Conflict',
      message: `${images.arm} is linux/arm64, ${names.slice(0, -1).join(', ')} and ${names.at(-1)} are linux/amd64: build for linux/amd64 (the group's platform) or on a server of the group`,
    });
    // Not one byte: the transport was never asked, no phase began, no lock or version exists, no image arrived.
    expect(send).not.toHaveBeenCalled();
    expect(events).toEqual([]);
    expect(berth.services.deployStore.findModel(MODEL)).toBeNull();
    for (let i = 0; i < bed.servers.length; i++) {
      expect(onServer(i, "docker image ls --format '{{.Repository}}:{{.Tag}}'")).not.toContain(`berth/${MODEL}`);
      expect(onServer(i, `test -e /var/lib/berth/lock/${MODEL} && echo locked || echo free`).trim()).toBe('free');
    }
    send.mockRestore();
  });

  it('an amd64 image deploys, and each server runs the gateway built for its own platform', async () => {
    const version = await berth.services.orchestrator.deploy({ model: MODEL, imageRef: images.amd, group: 'prod', replicas: 1, memoryMb: 256, readyTimeoutMs: 30_000 });
    expect(version).toMatchObject({ number: 1, state: 'live' });
    for (let i = 0; i < bed.servers.length; i++) {
      const image = onServer(i, "docker inspect -f '{{.Config.Image}}' berth-gateway").trim();
      expect(image).toMatch(/^berth\/gateway:[0-9a-f]{12}-amd64$/);
      expect(onServer(i, `docker image inspect -f '{{.Os}}/{{.Architecture}}' ${image}`).trim()).toBe('linux/amd64');
    }
  });
});
