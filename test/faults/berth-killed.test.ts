import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../electron/main/app';
import {
  auditDelivered,
  berthOnBed,
  buildModelImage,
  cleanModel,
  containersOf,
  failed,
  labels,
  loadBed,
  lockHeld,
  missingFromLogs,
  removeLocalImages,
  repoRoot,
  startLoad,
  until,
} from './support';

/**
 * Fault: Berth itself is SIGKILLed in the middle of a deploy, at four points, and started again. The new process's
 * `orchestrator.recover()` must find the half-done operation and either finish it (every server was switched) or
 * undo it (anything less): the old version serving everywhere, no stray containers, locks released, the operation
 * marked, an audit entry. Traffic keeps flowing through it all and every request is in the servers' logs.
 */

const bed = loadBed();
const MODEL = 'killed';
const images = { one: `berth-fault/${MODEL}:one`, heavy: `berth-fault/${MODEL}:heavy`, next: `berth-fault/${MODEL}:next` };
const all = bed.servers.map((_, i) => i);
const names = bed.servers.map((s) => s.name);
let home = '';

interface ChildRun {
  child: ChildProcess;
  events: Array<Record<string, any>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a deploy in a separate Berth process (tsx runs the TypeScript sources). */
function deployInChild(imageRef: string, env: Record<string, string> = {}): ChildRun {
  const child = spawn(
    process.execPath,
    // One process (tsx as a require hook, not its CLI, which would run the script in a grandchild the kill misses).
    ['--require', 'tsx/cjs', '--require', join(repoRoot, 'bench/raw-hook.cjs'), join(repoRoot, 'test/faults/deploy-child.ts'), home, MODEL, imageRef],
    { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const events: Array<Record<string, any>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      // not an event
    }
  });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code) console.log(`[child exited ${code}] ${stderr}\n${JSON.stringify(events.slice(-3))}`);
      resolve({ code, signal });
    }),
  );
  return { child, events, exited };
}

/** A second Berth process on the same data folder: what a user gets when they start Berth again. */
function restart(): Berth {
  return createBerth({ home, mode: 'cli', version: 'faults-restarted' });
}


beforeAll(async () => {
  buildModelImage(images.one, { label: 'one' });
  buildModelImage(images.heavy, { label: 'heavy', ballastMb: 300 });
  buildModelImage(images.next, { label: 'next' });
  cleanModel(bed, MODEL);
  const env = await berthOnBed(bed);
  home = env.home;
  const { berth } = env;
  try {
    await berth.services.orchestrator.deploy({ model: MODEL, imageRef: images.one, group: 'prod', replicas: 2, memoryMb: 256, readyTimeoutMs: 60_000 });
    await berth.services.orchestrator.setPublic(MODEL, true);
    expect(await labels(bed, MODEL, 'latest', all)).toEqual(['one', 'one', 'one']);
  } finally {
    berth.close();
  }
}, 600_000);

afterAll(() => {
  cleanModel(bed, MODEL);
  removeLocalImages(Object.values(images));
});

/** Kills a deploy at some point, restarts Berth, recovers, and checks everything the fault suite promises. */
async function killAndRecover(
  prefix: string,
  imageRef: string,
  env: Record<string, string>,
  kill: (run: ChildRun) => Promise<void>,
  expected: { outcome: 'undone' | 'finished'; label: string },
) {
  const load = startLoad(bed, { model: MODEL, rps: 30, servers: all, prefix, maxSeconds: 240 });
  let berth: Berth | undefined;
  try {
    const run = deployInChild(imageRef, env);
    await kill(run);
    const exit = await run.exited;
    expect(exit.signal).toBe('SIGKILL');

    berth = restart();
    const running = berth.services.deployStore.runningOperations();
    expect(running).toHaveLength(1);
    const opId = running[0].id;
    const t0 = Date.now();
    const result = await berth.services.orchestrator.recover();
    console.log(`[measure] ${prefix}: recover() took ${Date.now() - t0} ms → ${JSON.stringify(result)}`);
    expect(result[expected.outcome]).toEqual([opId]);

    // What serves: the expected version, on every server.
    expect(await labels(bed, MODEL, 'latest', all)).toEqual([expected.label, expected.label, expected.label]);
    // The operation is marked, nothing is left running, the locks are free everywhere.
    const store = berth.services.deployStore;
    expect(store.runningOperations()).toEqual([]);
    const op = store.operations(store.model(MODEL).id, 5).find((o) => o.id === opId)!;
    expect(op.state).toBe(expected.outcome === 'undone' ? 'undone' : 'succeeded');
    for (const i of all) expect(lockHeld(bed, i, MODEL), `lock on ${names[i]}`).toBe(false);
    // No stray containers: each server runs exactly the containers of the versions the database says are placed.
    const placed = store
      .versions(store.model(MODEL).id)
      .flatMap((v) => store.placements(v.id))
      .flatMap((p) => p.replicas.map((r) => `${berth!.services.registry.get(p.serverId).name}/${r.name}`))
      .sort();
    const present = all.flatMap((i) => containersOf(bed, i, MODEL).map((c) => `${names[i]}/${c}`)).sort();
    expect(present).toEqual(placed);
    // Audit: the recovery is recorded here and on every server.
    const audit = await auditDelivered(berth, { action: 'recover', target: `operation ${opId}` }, names);
    expect(audit.delivered.map((e) => e.details)).toEqual([{ detail: { outcome: expected.outcome } }]);
  } catch (err) {
    await load.stop();
    berth?.close();
    throw err;
  }
  const answers = await load.stop();
  berth?.close();
  // Traffic during the kill and the recovery: not one failed request, and every one is in the servers' logs.
  console.log(`[measure] ${prefix}: ${answers.length} requests during kill + recovery, ${failed(answers).length} failed`);
  expect(failed(answers), 'failed requests').toEqual([]);
  expect(answers.length).toBeGreaterThan(30);
  expect(await missingFromLogs(bed, answers, prefix)).toEqual([]);
}

describe('Berth killed mid-deploy, then started again', () => {
  it('killed while sending the image: the deploy is undone, locks released', async () => {
    await killAndRecover(
      'k-transport',
      images.heavy,
      {},
      async (run) => {
        await until(() => run.events.some((e) => e.phase === 'transport' && (e.bytesSent ?? 0) > 0), 120_000, 'bytes on the wire');
        run.child.kill('SIGKILL');
      },
      { outcome: 'undone', label: 'one' },
    );
  });

  it('killed after the replicas started, before the switch: undone, its containers removed', async () => {
    await killAndRecover(
      'k-started',
      images.next,
      {},
      async (run) => {
        await until(() => run.events.some((e) => e.phase === 'ready' && /ready$/.test(e.message)), 120_000, 'a server with ready replicas');
        run.child.kill('SIGKILL');
      },
      { outcome: 'undone', label: 'one' },
    );
  });

  it('killed while some gateways were switched: the revision is on every server, so it is finished and every gateway switches', async () => {
    // The child holds its routes write to the last server, so the kill lands with the others switched and it not.
    const last = bed.servers.length - 1;
    await killAndRecover(
      'k-switching',
      images.next,
      { HOLD_ROUTES_ON: names[last] },
      async (run) => {
        const others = all.filter((i) => i !== last);
        await until(async () => (await labels(bed, MODEL, 'latest', others)).every((l) => l === 'next'), 180_000, 'the other gateways to switch');
        expect((await labels(bed, MODEL, 'latest', [last]))[0]).toBe('one');
        run.child.kill('SIGKILL');
      },
      { outcome: 'finished', label: 'next' },
    );
  });

  it('killed after the switch revision, before its local journal closed: the deploy is finished', async () => {
    // The child kills itself right after the journal says "done" (a deterministic point, before the operation is closed).
    await killAndRecover('k-switched', images.next, { KILL_AT_JOURNAL: 'done' }, async () => {}, { outcome: 'finished', label: 'next' });
  });
});
