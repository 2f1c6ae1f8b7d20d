/**
 * The bundled example project builds offline with the real engine, from the local base image, and its image
 * passes the smoke test: a newcomer's first build needs nothing of their own and nothing from a package index.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildService, type BuildService } from '../../../electron/main/services/build/service';
import { createProjectService } from '../../../electron/main/services/project';
import { installedExampleDir } from '../../../electron/main/services/project/example';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { DEBIAN_PYTHON, recorder, removeProjects, TEST_BASE_IMAGE } from './support';

/** The model's name, and so its image's: unique to this run (the example's berth.toml names it). */
const NAME = `bex${randomBytes(3).toString('hex')}-iris`;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-build-example-'));
let db: Db;
let builds: BuildService;

beforeAll(() => {
  db = openDatabase(path.join(scratch, 'berth.db'));
  const analysis = createProjectService();
  builds = createBuildService({
    db,
    analyze: (target, options) => analysis.analyze(target, { interpreter: DEBIAN_PYTHON, ...options }),
    settings: () => ({ baseImage: TEST_BASE_IMAGE, dockerSocket: '/var/run/docker.sock' }),
  });
});

afterAll(async () => {
  db?.close();
  await removeProjects([NAME]);
  rmSync(scratch, { recursive: true, force: true });
});

describe('the example project (real engine)', () => {
  it('builds from the base image without an index and answers its sample as the notebook does', async () => {
    const dir = path.join(scratch, NAME);
    cpSync(installedExampleDir()!, dir, { recursive: true });
    const projectFile = path.join(dir, 'berth.toml');
    writeFileSync(projectFile, readFileSync(projectFile, 'utf8').replace('model = "iris-classifier"', `model = "${NAME}"`));
    const rec = recorder();
    await builds.run({ path: dir }, rec.emit, new AbortController().signal);

    expect(rec.of('log').filter((l) => /^(Collecting|Downloading|Looking in indexes|WARNING: Retrying)/.test(l.line))).toEqual([]);
    expect(rec.of('smoke')[0].result).toMatchObject({ status: 'passed', output: ['setosa', 'virginica'] });
    expect(rec.of('result')[0].imageTag).toMatch(new RegExp(`^berth/${NAME}:`));
    expect(builds.list(dir)[0]).toMatchObject({ status: 'succeeded', deployable: true, smoke: { status: 'passed' } });
  });
});
