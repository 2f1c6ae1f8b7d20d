import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildService, type BuildService } from '../../../electron/main/services/build/service';
import { createProjectService } from '../../../electron/main/services/project';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { BuildRecord, type SmokeResult } from '../../../shared/build';
import { BerthError } from '../../../shared/errors';
import { copyFixtureAs, DEBIAN_PYTHON, docker, editCell, FIXTURES, recorder, removeProjects, TEST_BASE_IMAGE } from './support';

const RUN = randomBytes(3).toString('hex');
const name = (what: string) => `bit${RUN}-${what}`;
const projects: string[] = [];
const scratch: string[] = [];
let db: Db;
let builds: BuildService;
const analysis = createProjectService();

function project(fixture: string, what: string): string {
  const dir = copyFixtureAs(fixture, name(what));
  projects.push(name(what));
  scratch.push(path.dirname(dir));
  return dir;
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const full = path.join(d, entry);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = `${createHash('sha256').update(readFileSync(full)).digest('hex')}:${st.mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

async function leftoverContainers(project: string) {
  return docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
}

beforeAll(() => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'berth-build-db-'));
  scratch.push(home);
  db = openDatabase(path.join(home, 'berth.db'));
  builds = createBuildService({
    db,
    analyze: (target, options) => analysis.analyze(target, { interpreter: DEBIAN_PYTHON, ...options }),
    settings: () => ({ baseImage: TEST_BASE_IMAGE, dockerSocket: '/var/run/docker.sock' }),
  });
});

afterAll(async () => {
  db?.close();
  await removeProjects(projects);
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe.each([
  { fixture: 'sklearn-iris', what: 'iris', entrypoint: 'predict', expected: [0] },
  { fixture: 'pandas-pipeline', what: 'pandas', entrypoint: 'score', expected: ['churn', 'stay'] },
])('$fixture: folder → analysis → image → smoke test (real engine)', ({ fixture, what, entrypoint, expected }) => {
  it("builds a labelled image whose /predict answers the sample like the notebook", async () => {
    const dir = project(fixture, what);
    const before = snapshot(dir);
    const rec = recorder();
    await builds.run({ path: dir }, rec.emit, new AbortController().signal);

    // phases in order, steps counted up to the total
    expect(rec.of('phase').map((e) => e.phase)).toEqual(['analyze', 'context', 'build', 'smoke']);
    const progress = rec.of('progress');
    expect(progress.map((p) => p.step)).toEqual(progress.map((_, i) => i + 1));
    expect(progress.at(-1)!.step).toBe(progress[0].total);
    // the pins equal the base image's Debian packages: pip is satisfied without going to an index
    // (when an earlier run left the step in Docker's cache, pip does not run at all; timing.test.ts always runs it)
    const pip = rec.steps().find((s) => /python3 -m pip install/.test(s.instruction))!;
    if (!pip.cached) expect(rec.of('log').some((l) => /^Requirement already satisfied: scikit-learn==1\.2\.1/.test(l.line))).toBe(true);
    expect(rec.of('log').filter((l) => /^(Collecting|Downloading|Looking in indexes|WARNING: Retrying)/.test(l.line))).toEqual([]);

    const [result] = rec.of('result');
    expect(result.imageTag).toMatch(new RegExp(`^berth/${name(what)}:b\\d{8}-\\d{6}-${result.contextHash.slice(0, 8)}$`));
    expect(result.sizeBytes).toBeGreaterThan(100_000_000);
    const notebookHash = createHash('sha256').update(readFileSync(path.join(dir, 'model.ipynb'))).digest('hex');
    const image = await docker.getImage(result.imageTag).inspect();
    expect(image.Id).toBe(result.imageId);
    expect(image.Config.Labels).toMatchObject({
      'berth.project': name(what),
      'berth.notebook-sha256': notebookHash,
      'berth.entrypoint': entrypoint,
      'berth.built-by': os.userInfo().username,
      'berth.context-sha256': result.contextHash,
    });
    expect(Date.parse(image.Config.Labels['berth.built-at'])).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(image.Config.User).toBe('berth');
    expect(image.Config.Healthcheck?.Test?.join(' ')).toContain('/readyz');
    // inside: an unprivileged user that cannot change the app, and the metadata file the wrapper reports
    const inside = JSON.parse(
      execFileSync(
        'docker',
        ['run', '--rm', '--network', 'none', '--label', `berth.project=${name(what)}`, result.imageTag, 'python3', '-c',
          "import json, os; print(json.dumps({'uid': os.getuid(), 'writable': os.access('/app', os.W_OK), 'meta': json.load(open(os.environ['BERTH_METADATA_FILE']))}))"],
        { encoding: 'utf8', timeout: 60_000 },
      ),
    );
    expect(inside).toMatchObject({ uid: 10001, writable: false, meta: { project: name(what), entrypoint, notebookSha256: notebookHash } });
    expect(inside.meta.packages).toContain('scikit-learn==1.2.1');

    // the served answer equals what the notebook computed
    const [smoke] = rec.of('smoke');
    expect(smoke.result).toMatchObject({ status: 'passed', output: expected });
    expect(await leftoverContainers(name(what))).toEqual([]);

    // recorded as deployable, with exactly what it was built from
    const [record] = builds.list(dir);
    expect(BuildRecord.parse(record)).toEqual(record);
    expect(record).toMatchObject({
      imageTag: result.imageTag,
      imageId: result.imageId,
      notebookHash,
      contextHash: result.contextHash,
      status: 'succeeded',
      deployable: true,
      smoke: { status: 'passed' },
    });
    expect(record.dockerfile).toContain(`ENV BERTH_MODULE=berth_model`);
    expect(record.requirements).toContain('scikit-learn==1.2.1');

    // the user's folder was only read
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('rebuilds (real engine)', () => {
  it('a code-only change rebuilds from the cached dependency layer', async () => {
    const dir = project('pandas-pipeline', 'rebuild');
    const first = recorder();
    await builds.run({ path: dir, smoke: false }, first.emit, new AbortController().signal);
    editCell(path.join(dir, 'model.ipynb'), 5, (src) => src.replace('def score(records):', '# served by Berth\ndef score(records):'));
    const second = recorder();
    await builds.run({ path: dir }, second.emit, new AbortController().signal);

    const pip = (steps: ReturnType<typeof first.steps>) => steps.find((s) => /python3 -m pip install/.test(s.instruction))!;
    const code = (steps: ReturnType<typeof first.steps>) => steps.find((s) => s.instruction.includes('berth/berth_model.py'))!;
    expect(pip(second.steps()).cached).toBe(true);
    expect(pip(second.steps()).layer).toBe(pip(first.steps()).layer);
    expect(code(second.steps()).cached).toBe(false);
    expect(code(second.steps()).layer).not.toBe(code(first.steps()).layer);
    expect(second.of('result')[0].contextHash).not.toBe(first.of('result')[0].contextHash);
    expect(second.of('smoke')[0].result.status).toBe('passed');
    expect(builds.list(dir).map((b) => b.status)).toEqual(['succeeded', 'succeeded']);
  });
});

describe('smoke test failures (real engine)', () => {
  async function failing(dir: string, edit: (dockerfile: string) => string, smokeTimeoutMs?: number) {
    const prepared = await builds.prepare(dir);
    const edited = edit(prepared.dockerfile.generated);
    expect(edited).not.toBe(prepared.dockerfile.generated);
    builds.saveEdits(dir, { dockerfile: edited });
    const rec = recorder();
    const error = await builds.run({ path: dir, smokeTimeoutMs }, rec.emit, new AbortController().signal).catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('SmokeTestFailed');
    const smoke = rec.of('smoke')[0]?.result as Extract<SmokeResult, { status: 'failed' }>;
    expect(smoke.status).toBe('failed');
    expect(await leftoverContainers(path.basename(dir))).toEqual([]);
    const [record] = builds.list(dir);
    expect(record).toMatchObject({ status: 'succeeded', deployable: false, smoke: { status: 'failed' } });
    expect(record.dockerfile).toBe(edited);
    return { error: error as BerthError, smoke };
  }

  it('a model that crashes at load fails with the container log', async () => {
    const dir = project('sklearn-iris', 'crash');
    // the user's edit drops the model file from the image: loading the module raises FileNotFoundError
    const { error, smoke } = await failing(dir, (d) => d.replace('COPY ["project/model.joblib","/app/model.joblib"]\n', ''));
    expect(error.message).toMatch(/exited with code 3 before it was ready|failed to load/);
    expect(smoke.logTail).toContain("FileNotFoundError: [Errno 2] No such file or directory: 'model.joblib'");
    expect((error.detail as { logTail: string }).logTail).toContain('FileNotFoundError');
  });

  it('an answer that differs from the notebook fails with the differences', async () => {
    const dir = project('sklearn-iris', 'differs');
    const { error, smoke } = await failing(dir, (d) => d.replace('BERTH_ENTRYPOINT=predict', 'BERTH_ENTRYPOINT=describe'));
    expect(error.message).toContain('answers the sample differently from the notebook');
    expect(smoke.differences).toEqual([{ path: '$', expected: [0], actual: { rows: 1 }, reason: 'expected array, got object' }]);
    expect(error.detail).toMatchObject({ expected: [0], actual: { rows: 1 } });
  });

  it('a model that never becomes ready times out, bounded by the configured wait', async () => {
    const dir = project('sklearn-iris', 'slow');
    const started = Date.now();
    const { error } = await failing(
      dir,
      (d) => d.replace('CMD ["python3","berth_serve.py"]', 'CMD ["python3","-c","import time; print(\\"warming up\\", flush=True); time.sleep(600)"]'),
      3000,
    );
    expect(error.message).toContain('was not ready within 3 s');
    expect((error.detail as { logTail: string }).logTail).toContain('warming up');
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});

describe('build failures (real engine)', () => {
  it('a failing step gives BuildFailed with the step and the log tail; nothing is tagged or left running', async () => {
    const dir = project('sklearn-iris', 'fails');
    const prepared = await builds.prepare(dir);
    builds.saveEdits(dir, { dockerfile: prepared.dockerfile.generated.replace(/^(RUN useradd .*)$/m, `$1\nRUN echo about to fail ${RUN} && exit 7`) });
    const rec = recorder();
    const error = await builds.run({ path: dir }, rec.emit, new AbortController().signal).catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('BuildFailed');
    expect(error.message).toMatch(new RegExp(`^The image build failed at step 6/\\d+ \\(RUN echo about to fail ${RUN} && exit 7\\): .*returned a non-zero code: 7`));
    expect(error.detail.logTail).toContain(`about to fail ${RUN}`);
    expect(rec.of('result')).toEqual([]);
    expect(rec.of('smoke')).toEqual([]);
    expect(await docker.listImages({ filters: { reference: [`berth/${name('fails')}`] } })).toEqual([]);
    expect((await docker.listContainers({ all: true })).filter((c) => c.Command.includes(`about to fail ${RUN}`))).toEqual([]);
    expect(builds.list(dir)).toMatchObject([{ status: 'failed', imageTag: null, deployable: false, error: { kind: 'BuildFailed' } }]);
  });
});

describe('refusing to build', () => {
  it('a project with error findings is refused with the list of problems, and nothing is built', async () => {
    const rec = recorder();
    const error = await builds.run({ path: path.join(FIXTURES, 'broken') }, rec.emit, new AbortController().signal).catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('ProjectInvalid');
    expect(error.message).toMatch(/^Berth cannot build broken until these \d+ problems are fixed:\n- /);
    const findings = (error.detail as { findings: { code: string; severity: string }[] }).findings;
    expect(findings.length).toBeGreaterThan(1);
    expect(findings.every((f) => f.severity === 'error')).toBe(true);
    expect(findings.map((f) => f.code)).toContain('import-not-installed');
    expect(rec.of('phase').map((e) => e.phase)).toEqual(['analyze']);
    expect(builds.list(path.join(FIXTURES, 'broken'))).toEqual([]);
  });

  it('a notebook that is not valid JSON is refused before anything is generated', async () => {
    const error = await builds.prepare(path.join(FIXTURES, 'invalid-json')).catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('ProjectInvalid');
  });
});
