/**
 * The remote build on a bed server, then a deploy to the whole group: the build context is all the laptop sends,
 * the image goes from the build server to the others server to server, and the one-time transfer keys are gone.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import type { DeployEvent } from '../../../shared/deploy';
import { bedDir, loadBed, registerBed } from '../bed';
import { BASE_IMAGE } from '../deploy/test-images';
import { copyFixtureAs, DEBIAN_PYTHON, recorder, TEST_BASE_IMAGE } from './support';

const bed = loadBed();
const RUN = randomBytes(3).toString('hex');
const MODEL = `rb${RUN}`;
const GROUP = `rb-${RUN}`;
const dir = copyFixtureAs('sklearn-iris', MODEL);
let berth: Berth;
let ids: number[];

const onServer = (i: number, command: string) => execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[i].name, command], { encoding: 'utf8' });

/** Bytes the laptop has sent into the bed: the root namespace's end of its link to the bed's switch. */
function laptopTxBytes(): number {
  const name = readFileSync(join(bedDir, 'state'), 'utf8').match(/^NAME=(.*)$/m)?.[1] ?? 'tb';
  return Number(readFileSync(`/sys/class/net/${name}-h/statistics/tx_bytes`, 'utf8'));
}

/**
 * Server 1 builds FROM the base image, and the others hold its layers (what the copy leaves out), as servers that
 * ran a model before do; a bed made without --base-image (CI's) gets it here.
 */
function baseImageOnServers(): void {
  for (let i = 0; i < bed.servers.length; i++) {
    const present = onServer(i, `docker image inspect ${BASE_IMAGE} >/dev/null 2>&1 && echo yes || echo no`).trim() === 'yes';
    if (present) continue;
    execFileSync('bash', ['-o', 'pipefail', '-c', 'docker save "$1" | ssh -F "$2" "$3" docker load', 'bash', BASE_IMAGE, bed.sshConfig, bed.servers[i].name], { stdio: 'ignore', timeout: 90_000 });
  }
}

beforeAll(async () => {
  baseImageOnServers();
  berth = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-remote-build-')), mode: 'cli', version: 'test' });
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm', baseImage: TEST_BASE_IMAGE });
  ids = await registerBed(berth, bed, { group: { name: GROUP, replicas: 1 } });
});

afterAll(() => {
  for (let i = 0; i < bed.servers.length; i++) {
    try {
      onServer(i, `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q 'berth/${MODEL}') 2>/dev/null; rm -rf /var/lib/berth/lock/${MODEL} /var/lib/berth/groups/${GROUP}; true`);
    } catch {
      // best effort
    }
  }
  berth?.close();
});

describe('a remote build on server 1, then a deploy to all three', () => {
  let buildId: number;
  let imageTag: string;

  it('builds on the server with the context alone crossing the link, streams the log and smoke-tests there', async () => {
    const rec = recorder();
    const before = laptopTxBytes();
    await berth.services.builds.run({ path: dir, options: { interpreter: DEBIAN_PYTHON }, on: { serverId: ids[0] } }, rec.emit, new AbortController().signal);
    const laptopBytes = laptopTxBytes() - before;

    const result = rec.of('result')[0];
    expect(result).toBeDefined();
    buildId = result.buildId;
    imageTag = result.imageTag;
    expect(rec.of('log').filter((e) => e.source === 'docker').length).toBeGreaterThan(5);
    expect(rec.of('smoke')[0].result.status).toBe('passed');
    expect(berth.services.builds.get(buildId)).toMatchObject({ builtOn: ids[0], deployable: true, platform: 'linux/amd64' });

    // The image is on server 1, not here.
    expect(onServer(0, `docker image inspect -f '{{.Id}}' ${imageTag}`).trim()).toBe(result.imageId);
    expect(() => execFileSync('docker', ['image', 'inspect', imageTag], { stdio: 'pipe' })).toThrow();
    // No smoke container left on the server.
    expect(onServer(0, `docker ps -aq --filter label=berth.smoke=true --filter label=berth.project=${MODEL}`).trim()).toBe('');

    const lines = rec.of('log').map((e) => e.line);
    const contextBytes = Number(/Build context: \d+ files, (\d+) bytes/.exec(lines.join('\n'))![1]);
    const sent = Number(/Sent (\d+) bytes to/.exec(lines.join('\n'))![1]);
    // A tar adds a 512-byte header per entry and pads to 10 KiB: far below twice the files' size for this context.
    expect(sent).toBeGreaterThan(contextBytes);
    expect(sent).toBeLessThan(2 * contextBytes + 64 * 1024);
    expect(sent).toBeLessThan(result.sizeBytes / 50);
    // What really left the laptop (the SSH channel, smoke probes, and the rest) stays of the context's order.
    expect(laptopBytes).toBeLessThan(4 * contextBytes + 2 * 1024 * 1024);
    console.log(`remote build: context ${contextBytes} B, tar sent ${sent} B, laptop link tx ${laptopBytes} B, image ${result.sizeBytes} B, ${result.durationMs} ms`);
  }, 600_000);

  it('deploys to every server of the group, the others getting the image from server 1, and each serves predictions', async () => {
    const events: DeployEvent[] = [];
    const before = laptopTxBytes();
    await berth.services.deploy.deployBuild({ buildId, group: GROUP }, (e) => events.push(e), new AbortController().signal);
    const laptopBytes = laptopTxBytes() - before;
    const transport = events.filter((e) => e.type === 'progress' && e.phase === 'transport').map((e) => (e as { message: string }).message);
    const copied = transport.filter((m) => /copied from/.test(m));
    console.log(copied.join('\n'));
    // Two servers got it from server 1; each already had the base image's layers, which stayed out of the copy.
    expect(copied).toHaveLength(2);
    for (const m of copied) expect(Number(/(\d+) already there/.exec(m)![1])).toBeGreaterThan(0);
    await berth.services.deploy.orchestrator.setPublic(MODEL, true);
    for (const server of bed.servers) {
      const response = await fetch(`http://${server.host}:8700/${MODEL}/latest/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(response.status).toBe(200);
      expect((await response.json()) as { predictions?: unknown }).toHaveProperty('predictions');
    }
    const imageSize = berth.services.builds.get(buildId)!.sizeBytes!;
    console.log(`deploy of the remote build: laptop link tx ${laptopBytes} B (image ${imageSize} B)`);
    expect(laptopBytes).toBeLessThan(imageSize / 4);
  }, 900_000);

  it('a cancelled remote build stops there and leaves no image under its tag', async () => {
    const name = `${MODEL}c`;
    const cancelled = copyFixtureAs('sklearn-iris', name);
    const controller = new AbortController();
    const rec = recorder();
    const emit: typeof rec.emit = (e) => {
      rec.emit(e);
      if (e.type === 'log' && e.source === 'docker' && /^Step 1\//.test(e.line)) controller.abort();
    };
    const error = await berth.services.builds.run({ path: cancelled, options: { interpreter: DEBIAN_PYTHON }, on: { serverId: ids[0] } }, emit, controller.signal).catch((e) => e);
    expect(error).toMatchObject({ kind: 'Cancelled' });
    expect(berth.services.builds.list(cancelled)[0]).toMatchObject({ status: 'cancelled', builtOn: ids[0] });
    await new Promise((r) => setTimeout(r, 3000));
    expect(onServer(0, `docker images -q 'berth/${name}'`).trim()).toBe('');
  }, 300_000);

  it('leaves no transfer key in any authorized_keys and no key folder on the build server', () => {
    for (let i = 0; i < bed.servers.length; i++) expect(onServer(i, 'cat ~/.ssh/authorized_keys')).not.toContain('berth-transfer-');
    expect(onServer(0, 'ls -d /tmp/berth-copy.* 2>/dev/null || true').trim()).toBe('');
  });
});
