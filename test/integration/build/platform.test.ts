import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildService, type BuildService } from '../../../electron/main/services/build/service';
import { createProjectService } from '../../../electron/main/services/project';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { copyFixtureAs, DEBIAN_PYTHON, docker, recorder, removeProjects, TEST_BASE_IMAGE } from './support';

const RUN = randomBytes(3).toString('hex');
const name = `bplat${RUN}`;
const scratch: string[] = [];
let db: Db;
let builds: BuildService;
let dir: string;
const analysis = createProjectService();
const berthLines = (rec: ReturnType<typeof recorder>) => rec.of('log').filter((e) => e.source === 'berth').map((e) => e.line);

beforeAll(() => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'berth-build-db-'));
  scratch.push(home);
  db = openDatabase(path.join(home, 'berth.db'));
  builds = createBuildService({
    db,
    analyze: (target, options) => analysis.analyze(target, { interpreter: DEBIAN_PYTHON, ...options }),
    settings: () => ({ baseImage: TEST_BASE_IMAGE, dockerSocket: '/var/run/docker.sock' }),
  });
  dir = copyFixtureAs('sklearn-iris', name);
  scratch.push(path.dirname(dir));
});

afterAll(async () => {
  db?.close();
  await removeProjects([name]);
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

// The engine here is linux/amd64, without QEMU and with its base image for amd64 only.
describe('builds for the target platform (real engine)', () => {
  it("the engine's own platform builds natively, and the record keeps the image's platform", async () => {
    const rec = recorder();
    await builds.run({ path: dir, smoke: false, platform: 'linux/amd64' }, rec.emit, new AbortController().signal);
    expect(berthLines(rec)).toContain('The image is for linux/amd64.');
    expect(berthLines(rec).some((l) => /emulated/.test(l))).toBe(false);
    expect(builds.list(dir)[0]).toMatchObject({ status: 'succeeded', platform: 'linux/amd64' });
  });

  it('another platform says it is emulated; an engine that cannot build for it is named with the target, and the remote build suggested', async () => {
    const rec = recorder();
    const error = await builds.run({ path: dir, smoke: false, platform: 'linux/arm64' }, rec.emit, new AbortController().signal).catch((e) => e);
    expect(berthLines(rec)).toContain('Building for linux/arm64 on a linux/amd64 engine: every RUN step is emulated (QEMU), several times slower than a native build.');
    expect(error).toMatchObject({ kind: 'BuildFailed' });
    expect(error.message).toMatch(/^The local Docker engine \(linux\/amd64\) cannot build for linux\/arm64: .*Build on a server of the group instead \(the remote build\)/);
    expect(rec.of('result')).toEqual([]);
    // Nothing of the wrong platform is left under a berth tag for a deploy to pick up.
    const tagged = await docker.listImages({ filters: { reference: [`berth/${name}`] } });
    for (const image of tagged) expect((await docker.getImage(image.Id).inspect()).Architecture).not.toBe('arm64');
    expect(tagged.map((i) => i.RepoTags).flat()).toHaveLength(1); // the native build's only
    expect(builds.list(dir)[0]).toMatchObject({ status: 'failed', platform: null, imageTag: null, error: { kind: 'BuildFailed' } });
  });
});
