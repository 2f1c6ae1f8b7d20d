import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import { addServerInput, loadBed, registerBed } from '../bed';
import { buildTestModel, removeLocalImage } from '../deploy/test-images';

/**
 * Issue 10's "Done means" on the real 3-server bed: two data folders A and B (two SQLite files, as two teammates
 * or a teammate and a CI runner), the same servers, interleaved work. Everything one of them made keeps answering;
 * versions number on; both views converge; two deploys of one model at once cannot both proceed; a revocation
 * reaches the servers that answer within a second; a damaged copy is detected and repaired.
 */

const bed = loadBed();
const repoRoot = join(__dirname, '../../..');
const GROUP = 'team';
const ALPHA = 'gs-alpha';
const BETA = 'gs-beta';
const MODELS = [ALPHA, BETA];
const images = {
  alphaOne: `berth-test/${ALPHA}:one`,
  alphaTwo: `berth-test/${ALPHA}:two`,
  alphaThree: `berth-test/${ALPHA}:three`,
  betaOne: `berth-test/${BETA}:one`,
};

let A: Berth;
let B: Berth;
let serverIdsA: number[] = [];
let secret = '';
let keyId = '';

function onServer(index: number, command: string): string {
  const result = spawnSync('ssh', ['-F', bed.sshConfig, bed.servers[index].name, command], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`${bed.servers[index].name}: ${command} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** Removes this file's containers, images, group state and model locks from every server that answers. */
function cleanServers() {
  for (let i = 0; i < bed.servers.length; i++) {
    const commands = [
      ...MODELS.map((m) => `ids=$(docker ps -aq --filter label=berth.model=${m}); [ -z "$ids" ] || docker rm -f $ids >/dev/null`),
      ...MODELS.map((m) => `imgs=$(docker images -q berth-test/${m} | sort -u); [ -z "$imgs" ] || docker rmi -f $imgs >/dev/null`),
      `rm -rf /var/lib/berth/groups/${GROUP} ${MODELS.map((m) => `/var/lib/berth/lock/${m} /var/lib/berth/lock/${m}.guard`).join(' ')}`,
    ];
    try {
      onServer(i, `${commands.join('; ')}; true`);
    } catch {
      // a server a test crashed is restored by that test
    }
  }
}

const tb = (...args: string[]) => execFileSync('bash', ['test/bed/tb.sh', ...args], { cwd: repoRoot, stdio: 'pipe', timeout: 180_000 });

interface Answer {
  status: number;
  label?: string;
  version?: string | null;
}

async function call(server: number, model: string, path: string, key = secret): Promise<Answer> {
  const response = await fetch(`http://${bed.servers[server].host}:8700/${model}/${path}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ inputs: [1, 2] }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  let label: string | undefined;
  try {
    label = (JSON.parse(text) as { predictions?: { label?: string } }).predictions?.label;
  } catch {
    // an error page
  }
  return { status: response.status, label, version: response.headers.get('x-berth-version') };
}

const everywhere = (model: string, path: string, key = secret) => Promise.all(bed.servers.map((_, i) => call(i, model, path, key)));
const statuses = (answers: Answer[]) => answers.map((a) => a.status);
const labels = (answers: Answer[]) => answers.map((a) => a.label ?? `(${a.status})`);

function deploy(berth: Berth, model: string, imageRef: string) {
  return berth.services.orchestrator.deploy({ model, imageRef, group: GROUP, replicas: 1, memoryMb: 256, readyTimeoutMs: 90_000 });
}

async function versionsSeenBy(berth: Berth, model: string) {
  const view = await berth.services.deploy.model(model);
  return view.versions.map((v) => ({ number: v.number, state: v.state, aliases: [...v.aliases].sort() })).sort((a, b) => a.number - b.number);
}

/** The group state as one server holds it (read with the system ssh, independent of Berth). */
function stateOn(index: number) {
  return JSON.parse(onServer(index, `cat /var/lib/berth/groups/${GROUP}/state.json`)) as {
    hash: string;
    revision: { revision: number; prev: string | null; state: { models: Record<string, { public: boolean; versions: Array<{ number: number; state: string; imageRef: string }>; aliases: Record<string, number> }>; keys: Array<{ id: string; name: string }> } };
  };
}

beforeAll(async () => {
  cleanServers();
  buildTestModel(images.alphaOne, { label: 'alpha-one' });
  buildTestModel(images.alphaTwo, { label: 'alpha-two' });
  buildTestModel(images.alphaThree, { label: 'alpha-three' });
  buildTestModel(images.betaOne, { label: 'beta-one' });
  A = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-gs-a-')), mode: 'cli', version: 'test' });
  B = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-gs-b-')), mode: 'cli', version: 'test' });
  await A.ready;
  await B.ready;
  // Nothing can be pulled here: the gateway is compiled with the locally debootstrapped Go image.
  for (const berth of [A, B]) berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  serverIdsA = await registerBed(A, bed, { group: { name: GROUP, replicas: 1 } });
  await A.services.groups.updateGroup(GROUP, { serverIds: serverIdsA });
}, 600_000);

afterAll(async () => {
  // Unroute what this file made (every gateway's table is derived again without it), then remove it all.
  await A?.services.groups
    .change(GROUP, 'test clean-up', (state) => {
      for (const m of MODELS) delete state.models[m];
      state.keys = [];
    })
    .catch(() => undefined);
  cleanServers();
  A?.close();
  B?.close();
  for (const tag of Object.values(images)) removeLocalImage(tag);
}, 300_000);

describe('two data folders, one group of three servers', () => {
  it('A deploys m1 and creates a key; the key answers 200 on every server', async () => {
    const v1 = await deploy(A, ALPHA, images.alphaOne);
    expect(v1).toMatchObject({ number: 1, state: 'live' });
    const created = await A.services.access.createKey({ name: 'gs-client', scope: { kind: 'model', model: ALPHA } });
    secret = created.secret;
    keyId = created.key.id;
    expect(created.publish.servers.every((s) => s.ok)).toBe(true);
    expect(statuses(await everywhere(ALPHA, 'latest'))).toEqual([200, 200, 200]);
    expect(labels(await everywhere(ALPHA, 'latest'))).toEqual(['alpha-one', 'alpha-one', 'alpha-one']);
    expect(statuses(await everywhere(ALPHA, 'latest', ''))).toEqual([401, 401, 401]);
  }, 900_000);

  it("B adds the same servers and lists m1, its versions and the key's metadata (never its secret)", async () => {
    for (const server of bed.servers) await B.services.servers.add(addServerInput(bed, server));
    const attached = await B.services.groups.attach();
    expect(attached.problems).toEqual([]);
    expect(attached.groups.map((g) => g.group)).toContain(GROUP);
    expect(B.services.registry.group(GROUP).serverIds).toHaveLength(3);

    expect(B.services.deploy.models()).toContain(ALPHA);
    expect(await versionsSeenBy(B, ALPHA)).toEqual([{ number: 1, state: 'live', aliases: ['latest'] }]);
    const keys = B.services.access.listKeys();
    const key = keys.find((k) => k.id === keyId);
    expect(key).toMatchObject({ id: keyId, group: GROUP, name: 'gs-client', scope: { kind: 'model', model: ALPHA }, state: 'active', revokedAt: null });
    expect(JSON.stringify(keys)).not.toContain(secret);
    // Who made it and when the cache was refreshed are shown too.
    expect(B.services.groups.syncView(GROUP)).toMatchObject({ group: GROUP, revision: A.services.groups.syncView(GROUP).revision });
    expect(B.services.groups.syncView(GROUP).refreshedAt).not.toBeNull();
  }, 300_000);

  it("B deploys m2: m1 still answers A's key with 200 on every server", async () => {
    const v = await deploy(B, BETA, images.betaOne);
    expect(v).toMatchObject({ number: 1, state: 'live' });
    expect(labels(await everywhere(ALPHA, 'latest'))).toEqual(['alpha-one', 'alpha-one', 'alpha-one']);
    expect(statuses(await everywhere(ALPHA, 'latest'))).toEqual([200, 200, 200]);
    // m2 is routed too (private: a call without a key is refused, not unknown), and A's key is not valid for it.
    expect(statuses(await everywhere(BETA, 'latest', ''))).toEqual([401, 401, 401]);
    expect(statuses(await everywhere(BETA, 'latest'))).not.toContain(200);
  }, 600_000);

  it('B deploys m1 again: it is v2, and v1 still answers at /v1', async () => {
    const v2 = await deploy(B, ALPHA, images.alphaTwo);
    expect(v2).toMatchObject({ number: 2, state: 'live' });
    expect(labels(await everywhere(ALPHA, 'latest'))).toEqual(['alpha-two', 'alpha-two', 'alpha-two']);
    expect(labels(await everywhere(ALPHA, 'v1'))).toEqual(['alpha-one', 'alpha-one', 'alpha-one']);
    expect(labels(await everywhere(ALPHA, 'v2'))).toEqual(['alpha-two', 'alpha-two', 'alpha-two']);
    // A's v1 containers were not replaced.
    for (let i = 0; i < 3; i++) expect(onServer(i, `docker ps --filter label=berth.model=${ALPHA} --format '{{.Names}}'`).split('\n').filter(Boolean).sort()).toEqual([`berth-${ALPHA}-v1-r1`, `berth-${ALPHA}-v2-r1`]);
  }, 600_000);

  it("A's next call shows v2; an alias moved by B is seen by A", async () => {
    const polled = await A.services.groups.poll();
    expect(polled.find((v) => v.group === GROUP)?.revision).toBe(B.services.groups.syncView(GROUP).revision);
    expect(await versionsSeenBy(A, ALPHA)).toEqual([
      { number: 1, state: 'live', aliases: [] },
      { number: 2, state: 'live', aliases: ['latest'] },
    ]);
    expect(A.services.deploy.models()).toEqual(expect.arrayContaining([ALPHA, BETA]));

    await B.services.orchestrator.setAlias(ALPHA, 'stable', 1);
    expect(labels(await everywhere(ALPHA, 'stable'))).toEqual(['alpha-one', 'alpha-one', 'alpha-one']);
    await A.services.groups.refresh(GROUP);
    expect(await versionsSeenBy(A, ALPHA)).toEqual([
      { number: 1, state: 'live', aliases: ['stable'] },
      { number: 2, state: 'live', aliases: ['latest'] },
    ]);
  }, 300_000);

  it('changes from A and B at the same moment are both kept (no lost update)', async () => {
    const before = stateOn(0).revision.revision;
    const [key] = await Promise.all([
      A.services.access.createKey({ name: 'gs-second', scope: { kind: 'model', model: BETA } }),
      B.services.orchestrator.setPublic(BETA, true),
    ]);
    const after = stateOn(0);
    expect(after.revision.revision).toBe(before + 2);
    expect(after.revision.state.keys.map((k) => k.id)).toContain(key.key.id);
    expect(after.revision.state.models[BETA].public).toBe(true);
    expect(statuses(await everywhere(BETA, 'latest', ''))).toEqual([200, 200, 200]);
    for (let i = 1; i < 3; i++) expect(stateOn(i).hash).toBe(after.hash);
  }, 300_000);

  it('A and B deploy the same model at the same moment: one proceeds, the other is refused naming the holder', async () => {
    const results = await Promise.allSettled([deploy(A, ALPHA, images.alphaThree), deploy(B, ALPHA, images.alphaOne)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const winnerImage = results[0].status === 'fulfilled' ? images.alphaThree : images.alphaOne;
    const error = lost[0].reason as { kind: string; message: string };
    expect(error.kind).toBe('Conflict');
    expect(error.message).toMatch(/^Locked on tb\d by \S+@\S+ since \S+ \("deploy /);
    expect(error.message).toContain(`("deploy ${winnerImage}")`);
    expect((won[0] as PromiseFulfilledResult<{ number: number }>).value.number).toBe(3);

    // The state holds exactly the versions that succeeded, each once, on every server; both views converge.
    for (let i = 0; i < 3; i++) {
      const versions = stateOn(i).revision.state.models[ALPHA].versions;
      expect(versions.map((v) => v.number)).toEqual([1, 2, 3]);
      expect(versions.find((v) => v.number === 3)).toMatchObject({ state: 'live', imageRef: winnerImage });
    }
    await A.services.groups.refresh(GROUP);
    await B.services.groups.refresh(GROUP);
    expect(await versionsSeenBy(A, ALPHA)).toEqual(await versionsSeenBy(B, ALPHA));
    expect(A.services.groups.syncView(GROUP).hash).toBe(B.services.groups.syncView(GROUP).hash);
    expect(labels(await everywhere(ALPHA, 'latest'))).toEqual(Array(3).fill(winnerImage === images.alphaThree ? 'alpha-three' : 'alpha-one'));
  }, 600_000);

  it('A revokes a key while server 3 is down: servers 1 and 2 refuse it within a second', async () => {
    expect(statuses(await everywhere(ALPHA, 'latest'))).toEqual([200, 200, 200]);
    let crashed = false;
    try {
      tb('crash', '3');
      crashed = true;
      const started = Date.now();
      const revoking = A.services.access.revokeKey(keyId);
      revoking.catch(() => undefined);
      const refusedAt: Array<number | null> = [null, null];
      while (refusedAt.some((t) => t === null) && Date.now() - started < 5000) {
        await Promise.all(
          [0, 1].map(async (i) => {
            if (refusedAt[i] !== null) return;
            const answer = await call(i, ALPHA, 'latest').catch(() => ({ status: 0 }));
            if (answer.status === 401) refusedAt[i] = Date.now() - started;
          }),
        );
        await new Promise((r) => setTimeout(r, 25));
      }
      console.log(`revoked key refused by ${bed.servers[0].name} / ${bed.servers[1].name} after ${refusedAt.join(' / ')} ms`);
      expect(refusedAt.every((t) => t !== null), `refused after ${JSON.stringify(refusedAt)} ms`).toBe(true);
      expect(Math.max(...(refusedAt as number[])), `refused after ${JSON.stringify(refusedAt)} ms`).toBeLessThanOrEqual(1000);

      const report = await revoking;
      expect(report.key.state).toBe('revoked');
      expect(report.publish.servers.find((s) => s.server === bed.servers[2].name)?.ok).toBe(false);
      expect(report.publish.servers.filter((s) => s.ok).map((s) => s.server).sort()).toEqual([bed.servers[0].name, bed.servers[1].name]);
      // Still refused after the revision was written.
      expect(statuses(await Promise.all([0, 1].map((i) => call(i, ALPHA, 'latest'))))).toEqual([401, 401]);
    } finally {
      if (crashed) tb('restore', '3');
    }
  }, 300_000);

  it('a damaged state file on one server is detected and repaired from the others', async () => {
    const good = stateOn(0);
    // One character of the copy on server 2 changed, then garbage: both are reported damaged.
    const path = `/var/lib/berth/groups/${GROUP}/state.json`;
    onServer(1, `sed -i 's/"holder":"/"holder":"x/' ${path}`);
    let view = await A.services.groups.refresh(GROUP);
    expect(view.copies.find((c) => c.server === bed.servers[1].name)).toMatchObject({ state: 'damaged', detail: expect.stringMatching(/does not match its hash/) });
    expect(view.revision).toBe(good.revision.revision);

    onServer(1, `printf 'garbage{' > ${path}`);
    view = await A.services.groups.refresh(GROUP);
    expect(view.copies.find((c) => c.server === bed.servers[1].name)).toMatchObject({ state: 'damaged', detail: 'the state file is not valid JSON (damaged)' });
    expect(view.copies.find((c) => c.server === bed.servers[0].name)?.state).toBe('current');

    const repaired = await A.services.groups.repair(GROUP);
    expect(repaired.copies.find((c) => c.server === bed.servers[1].name)).toMatchObject({ state: 'current', revision: good.revision.revision + 1 });
    const copy = stateOn(1);
    expect(copy.revision.prev).toBe(good.hash);
    expect(copy.hash).toBe(stateOn(0).hash);
    // What it serves was derived from the repaired copy: the models still answer there.
    expect((await call(1, BETA, 'latest', '')).status).toBe(200);
  }, 300_000);
});
