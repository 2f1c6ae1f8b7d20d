import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBuildService } from '../../../electron/main/services/build/service';
import { createProjectService } from '../../../electron/main/services/project';
import { openDatabase } from '../../../electron/main/services/store/database';
import { copyFixtureAs, DEBIAN_PYTHON, editCell, median, recorder, removeProjects, TEST_BASE_IMAGE } from './support';

const RUN = randomBytes(3).toString('hex');
const project = `bit${RUN}-timing`;
const scratch: string[] = [];
const home = mkdtempSync(path.join(os.tmpdir(), 'berth-build-timing-'));
scratch.push(home);
const db = openDatabase(path.join(home, 'berth.db'));
const projectService = createProjectService();
const builds = createBuildService({
  db,
  analyze: (target, options) => projectService.analyze(target, { interpreter: DEBIAN_PYTHON, ...options }),
  settings: () => ({ baseImage: TEST_BASE_IMAGE, dockerSocket: '/var/run/docker.sock' }),
});

afterAll(async () => {
  db.close();
  await removeProjects([project]);
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe('build times (real engine, sklearn-iris)', () => {
  it('a code-only rebuild reuses the dependency layer and is faster than a first build (3 runs each, medians reported)', async () => {
    const dir = copyFixtureAs('sklearn-iris', project);
    scratch.push(path.dirname(dir));
    const prepared = await builds.prepare(dir);
    const first: { build: number; total: number }[] = [];
    const rebuild: { build: number; total: number }[] = [];

    const timed = async () => {
      const rec = recorder();
      const started = Date.now();
      await builds.run({ path: dir }, rec.emit, new AbortController().signal);
      const pip = rec.steps().find((s) => /python3 -m pip install/.test(s.instruction))!;
      expect(rec.of('smoke')[0].result.status).toBe('passed');
      if (!pip.cached) {
        // pins equal to the base image's Debian packages: satisfied, and pip never goes to an index (none is reachable here)
        const lines = rec.of('log').map((l) => l.line);
        for (const pin of ['joblib==1.2.0', 'numpy==1.24.2', 'scikit-learn==1.2.1']) {
          expect(lines.some((l) => l.startsWith(`Requirement already satisfied: ${pin}`))).toBe(true);
        }
        expect(lines.filter((l) => /^(Collecting|Downloading|Looking in indexes|WARNING: Retrying)/.test(l))).toEqual([]);
      }
      return { build: rec.of('result')[0].durationMs, total: Date.now() - started, pipCached: pip.cached };
    };

    for (let i = 0; i < 3; i++) {
      // First build of the project's dependencies: a new requirements text misses Docker's cache from the pip step on.
      builds.saveEdits(dir, { requirements: `${prepared.requirements.generated}# timing run ${RUN}-${i}\n` });
      const a = await timed();
      expect(a.pipCached).toBe(false);
      first.push(a);
      // Code-only change: the served function's cell changes, nothing else.
      editCell(path.join(dir, 'model.ipynb'), 2, (src) => `${src}\n# edit ${i}\n`);
      const b = await timed();
      expect(b.pipCached).toBe(true);
      rebuild.push(b);
    }
    const fmt = (xs: { build: number; total: number }[], k: 'build' | 'total') => `${(median(xs.map((x) => x[k])) / 1000).toFixed(1)} s [${xs.map((x) => (x[k] / 1000).toFixed(1)).join(', ')}]`;
    console.log(
      `[build timing] first build: docker build ${fmt(first, 'build')}, analyse+build+smoke ${fmt(first, 'total')}\n` +
        `[build timing] code-only rebuild: docker build ${fmt(rebuild, 'build')}, analyse+build+smoke ${fmt(rebuild, 'total')}`,
    );
    // Other work on the machine only ever adds time: compare the fastest runs, report the medians.
    expect(Math.min(...rebuild.map((x) => x.build))).toBeLessThan(Math.min(...first.map((x) => x.build)));
  });
});
