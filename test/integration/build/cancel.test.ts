import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import type { BuildEvent, BuildRecord, PreparedBuild } from '../../../shared/build';
import { copyFixtureAs, DEBIAN_PYTHON, docker, removeProjects, TEST_BASE_IMAGE } from './support';

const RUN = randomBytes(3).toString('hex');
const project = `bit${RUN}-cancel`;
const scratch: string[] = [];
let berth: Berth | undefined;

afterAll(async () => {
  berth?.close();
  await removeProjects([project]);
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

async function call<T>(name: string, input: unknown): Promise<T> {
  const res = await berth!.dispatcher.call(name, input);
  if (!res.ok) throw new Error(`${name}: ${res.error.kind}: ${res.error.message}`);
  return res.value as T;
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('cancelling a build through the contract (real engine)', () => {
  it('unsubscribing from build.run stops the build: no container keeps running, no image is tagged', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'berth-build-cancel-'));
    scratch.push(home);
    const dir = copyFixtureAs('sklearn-iris', project);
    scratch.push(path.dirname(dir));
    berth = createBerth({ home, mode: 'cli', version: 'test' });
    await call('settings.update', { baseImage: TEST_BASE_IMAGE });
    const options = { interpreter: DEBIAN_PYTHON };

    // A user edit makes one step slow enough to cancel in the middle of it.
    const marker = `berth-cancel-${RUN}`;
    const prepared = await call<PreparedBuild>('build.prepare', { path: dir, options });
    const slow = prepared.dockerfile.generated.replace(/^(RUN useradd .*)$/m, `$1\nRUN echo ${marker} && sleep 300`);
    await call('build.saveEdits', { path: dir, dockerfile: slow });

    const events: BuildEvent[] = [];
    let ended: unknown = 'not ended';
    let cancelledAt = 0;
    const cancel = berth.dispatcher.subscribe(
      'build.run',
      { path: dir, options },
      (e) => {
        events.push(e as BuildEvent);
        // the slow step prints the marker once its container runs
        if (!cancelledAt && (e as BuildEvent).type === 'log' && (e as { line: string }).line === marker) {
          cancelledAt = Date.now();
          cancel();
        }
      },
      (error) => (ended = error),
    );
    const t0 = Date.now();
    await waitFor('the slow step to start', async () => (cancelledAt ? true : undefined), 120_000);
    console.log(`[build] cancel: slow step reached after ${Date.now() - t0} ms`);

    // The producer records the build as cancelled once it has stopped.
    const record = await waitFor(
      'the cancelled build record',
      async () => (await call<BuildRecord[]>('build.list', { path: dir })).find((b) => b.status === 'cancelled'),
      30_000,
    );
    const stoppedMs = Date.now() - cancelledAt;
    expect(record).toMatchObject({ status: 'cancelled', imageTag: null, deployable: false, error: { kind: 'Cancelled' } });
    expect(record.dockerfile).toBe(slow);
    expect(ended).toBe('not ended'); // the subscriber left: nothing is delivered after cancel
    expect(events.some((e) => e.type === 'result')).toBe(false);

    // The daemon killed and removed the step's container; the image name was never tagged.
    const goneMs = await waitFor(
      'the build container to go away',
      async () => ((await docker.listContainers({ all: true })).some((c) => c.Command.includes(marker)) ? undefined : Date.now() - cancelledAt),
      20_000,
    );
    expect(await docker.listImages({ filters: { reference: [`berth/${project}`] } })).toEqual([]);
    expect(stoppedMs).toBeLessThan(15_000);
    console.log(`[build] cancel: record written ${stoppedMs} ms after unsubscribing; build container gone ${goneMs} ms after`);
  });
});
