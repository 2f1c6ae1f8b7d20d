import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import type { DeployEvent } from '../../../shared/deploy';
import { loadBed, registerBed } from '../bed';
import { buildTestModel, removeLocalImage } from './test-images';

const bed = loadBed();
const MODEL = 'deploytest';
const images = {
  v1: `berth-test/${MODEL}:one`,
  v2: `berth-test/${MODEL}:two`,
  broken: `berth-test/${MODEL}:broken`,
  heavy: `berth-test/${MODEL}:heavy`,
};

let berth: Berth;

async function predict(serverIndex: number, path: string): Promise<{ status: number; label?: string; version?: string | null }> {
  const response = await fetch(`http://${bed.servers[serverIndex].host}:8700/${MODEL}/${path}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [1, 2] }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json()) as { predictions?: { label: string } };
  return { status: response.status, label: body.predictions?.label, version: response.headers.get('x-berth-version') };
}

async function labelsEverywhere(path: string): Promise<string[]> {
  return Promise.all(bed.servers.map(async (_, i) => (await predict(i, path)).label ?? 'none'));
}

function deploy(imageRef: string, events: DeployEvent[] = [], extra: Record<string, unknown> = {}) {
  return berth.services.orchestrator.deploy(
    { model: MODEL, imageRef, group: 'prod', replicas: 2, memoryMb: 256, readyTimeoutMs: 30_000, ...extra },
    (e: DeployEvent) => events.push(e),
  );
}

function berthContainers(serverIndex: number): string[] {
  const out = execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[serverIndex].name, `docker ps -a --filter label=berth.model=${MODEL} --format '{{.Names}}'`], {
    encoding: 'utf8',
  });
  return out.split('\n').filter(Boolean).sort();
}

beforeAll(async () => {
  buildTestModel(images.v1, { label: 'one' });
  buildTestModel(images.v2, { label: 'two' });
  buildTestModel(images.broken, { label: 'broken', failAtLoad: true });
  buildTestModel(images.heavy, { label: 'heavy', ballastMb: 200 });
  berth = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-deploy-')), mode: 'cli', version: 'test' });
  // Nothing can be pulled here: the gateway is compiled with the locally debootstrapped Go image.
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  await registerBed(berth, bed, { group: { name: 'prod', replicas: 2 } });
});

afterAll(async () => {
  for (let i = 0; i < bed.servers.length; i++) {
    execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[i].name, `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q berth-test/${MODEL}) 2>/dev/null; rm -rf /var/lib/berth/lock/${MODEL} /var/lib/berth/groups/prod; true`], {
      stdio: 'ignore',
    });
  }
  berth?.close();
  for (const tag of Object.values(images)) removeLocalImage(tag);
});

describe('deploys to a 3-server group (real sshd + dockerd test hosts)', () => {
  it('first deploy: 2 replicas per server, served at /latest and /v1 by every gateway', async () => {
    const events: DeployEvent[] = [];
    const version = await deploy(images.v1, events);
    expect(version).toMatchObject({ number: 1, state: 'live' });
    // Private by default: the gateway refuses calls without a key.
    expect((await predict(0, 'latest')).status).toBe(401);
    await berth.services.orchestrator.setPublic(MODEL, true);
    expect(await labelsEverywhere('latest')).toEqual(['one', 'one', 'one']);
    expect(await labelsEverywhere('v1')).toEqual(['one', 'one', 'one']);
    expect(berthContainers(0)).toEqual([`berth-${MODEL}-v1-r1`, `berth-${MODEL}-v1-r2`]);
    const phases = new Set(events.filter((e) => e.type === 'progress').map((e) => (e as { phase: string }).phase));
    expect([...phases]).toEqual(expect.arrayContaining(['lock', 'transport', 'start', 'ready', 'switch', 'done']));
    expect(events.at(-1)).toMatchObject({ type: 'done', version: 1 });
  });

  it('second version takes /latest while v1 stays live at /v1', async () => {
    await deploy(images.v2);
    expect(await labelsEverywhere('latest')).toEqual(['two', 'two', 'two']);
    expect(await labelsEverywhere('v1')).toEqual(['one', 'one', 'one']);
    expect(await labelsEverywhere('v2')).toEqual(['two', 'two', 'two']);
    expect((await predict(1, 'latest')).version).toBe('2');
  });

  it('rolls back: /latest serves v1 again on every server', async () => {
    await berth.services.orchestrator.rollback(MODEL, 1);
    expect(await labelsEverywhere('latest')).toEqual(['one', 'one', 'one']);
    const view = await berth.services.deploy.model(MODEL);
    expect(view.versions.find((v) => v.number === 1)?.aliases).toContain('latest');
  });

  it('moves an alias: /stable follows it', async () => {
    await berth.services.orchestrator.setAlias(MODEL, 'stable', 2);
    expect(await labelsEverywhere('stable')).toEqual(['two', 'two', 'two']);
    await berth.services.orchestrator.setAlias(MODEL, 'stable', 1);
    expect(await labelsEverywhere('stable')).toEqual(['one', 'one', 'one']);
  });

  it('a model that never gets ready fails the deploy with its log; the old version keeps serving everywhere', async () => {
    const error = await deploy(images.broken).catch((e) => e);
    expect(error.kind).toBe('SmokeTestFailed');
    expect(error.message).toMatch(/model file is corrupt \(test\)/);
    expect(await labelsEverywhere('latest')).toEqual(['one', 'one', 'one']);
    for (let i = 0; i < 3; i++) expect(berthContainers(i).some((name) => name.includes('-v3-'))).toBe(false);
    const view = await berth.services.deploy.model(MODEL);
    expect(view.versions[0]).toMatchObject({ state: 'failed', servers: [] });
  });

  it('a server crashed mid-transport: nothing switched anywhere, a clear error names it', async () => {
    const events: DeployEvent[] = [];
    let crashed = false;
    const before = berthContainers(0);
    try {
      const attempt = deploy(images.heavy, events, { readyTimeoutMs: 30_000 });
      const crashWhenSending = setInterval(() => {
        const sending = events.some((e) => e.type === 'progress' && e.server === bed.servers[2].name && e.phase === 'transport' && (e.bytesSent ?? 0) > 0);
        if (sending && !crashed) {
          crashed = true;
          execFileSync('bash', ['test/bed/tb.sh', 'crash', '3'], { cwd: join(__dirname, '../../..'), stdio: 'ignore' });
        }
      }, 50);
      const error = await attempt.catch((e) => e);
      clearInterval(crashWhenSending);
      expect(crashed).toBe(true);
      expect(error.message).toContain(bed.servers[2].name);
      expect(error.message).toMatch(/nothing was switched/);
      expect((await predict(0, 'latest')).label).toBe('one');
      expect((await predict(1, 'latest')).label).toBe('one');
      expect(berthContainers(0)).toEqual(before);
    } finally {
      if (crashed) execFileSync('bash', ['test/bed/tb.sh', 'restore', '3'], { cwd: join(__dirname, '../../..'), stdio: 'ignore' });
    }
  });

  it('a lost server: its replicas are restored on the others and removed again when it returns', async () => {
    const group = berth.services.registry.group('prod');
    const tb3 = berth.services.registry.list().find((s) => s.name === bed.servers[2].name)!;
    const live = () => (berth.services.deployStore.versions(berth.services.deployStore.model(MODEL).id).filter((v) => v.state === 'live'));
    const replicasOn = (server: string) =>
      live().flatMap((v) => berth.services.deployStore.placements(v.id)).filter((p) => p.serverId === berth.services.registry.list().find((s) => s.name === server)!.id).flatMap((p) => p.replicas);
    execFileSync('bash', ['test/bed/tb.sh', 'crash', '3'], { cwd: join(__dirname, '../../..'), stdio: 'ignore' });
    try {
      const lost = await berth.services.orchestrator.restoreGroup(group.id, { reason: 'server-lost', serverId: tb3.id, server: tb3.name });
      expect(lost.shortfalls).toEqual([]);
      // 2 live versions × 2 replicas lost, spread over tb1 and tb2 and routed there.
      expect(replicasOn(bed.servers[0].name).length + replicasOn(bed.servers[1].name).length).toBe(2 * 2 * 2 + 4);
      expect(berthContainers(0).length + berthContainers(1).length).toBeGreaterThanOrEqual(12);
      expect((await predict(0, 'latest')).label).toBe('one');
      expect((await predict(1, 'v2')).label).toBe('two');
    } finally {
      execFileSync('bash', ['test/bed/tb.sh', 'restore', '3'], { cwd: join(__dirname, '../../..'), stdio: 'ignore' });
    }
    const back = await berth.services.orchestrator.restoreGroup(group.id, { reason: 'server-returned', serverId: tb3.id, server: tb3.name });
    expect(back.shortfalls).toEqual([]);
    expect(replicasOn(bed.servers[0].name).some((r) => r.standsInFor !== undefined)).toBe(false);
    expect(replicasOn(bed.servers[1].name).some((r) => r.standsInFor !== undefined)).toBe(false);
    expect(await labelsEverywhere('latest')).toEqual(['one', 'one', 'one']);
  });
});
