import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildRecords } from '../../electron/main/services/build/records';
import { parseProjectFile, renderProjectFile } from '../../electron/main/services/project/project-file';
import { createServerRegistry } from '../../electron/main/services/servers/registry';
import { openDatabase } from '../../electron/main/services/store/database';
import { buildApp, repoRoot, startApp, type RunningApp } from './harness';

/** A copy: the panel writes berth.toml into the project, never into the fixture. */
const IRIS = join(mkdtempSync(join(tmpdir(), 'berth-e2e-toml-')), 'sklearn-iris');
const TOML = join(IRIS, 'berth.toml');
const GROUP = 'toml-e2e';
const FP = `SHA256:${'Q'.repeat(43)}`;
const BASE_IMAGE = 'berth-base/python:3.11-bookworm';

/**
 * A data folder with a group of one registered server that nothing dials successfully (port 1), and one
 * smoke-tested build of the project: the panel needs both, and no server is touched by anything this test does.
 */
function seed(home: string): void {
  const db = openDatabase(join(home, 'berth.db'));
  try {
    const registry = createServerRegistry(db);
    const server = registry.insert({ name: 'toml-a', host: '127.0.0.1', port: 1, username: 'root', auth: 'agent', keySecretId: null, keyOrigin: null, hostKeyType: 'ssh-ed25519', hostKeyFingerprint: FP });
    registry.updateGroup(registry.createGroup(GROUP, 2).id, { serverIds: [server.id] });
    const records = createBuildRecords(db);
    const build = records.add({
      projectPath: IRIS,
      project: 'sklearn-iris',
      imageTag: 'berth/sklearn-iris:toml-e2e',
      imageId: 'sha256:toml-e2e',
      notebookHash: 'toml-e2e',
      contextHash: null,
      dockerfile: `FROM ${BASE_IMAGE}`,
      requirements: '',
      status: 'succeeded',
      sizeBytes: null,
      durationMs: null,
      error: null,
    });
    records.setSmoke(build.id, { status: 'passed', readyMs: 1, durationMs: 1, input: {}, output: {} });
  } finally {
    db.close();
  }
}

const committed = renderProjectFile({
  model: 'sklearn-iris',
  base_image: BASE_IMAGE,
  replicas: 1,
  memory_mb: 512,
  group: { name: GROUP, servers: [{ name: 'toml-a', host: '127.0.0.1', port: 1, host_key: FP }] },
});

describe('berth.toml from the deploy panel in Chromium', () => {
  let app: RunningApp;
  const home = mkdtempSync(join(tmpdir(), 'berth-e2e-toml-home-'));
  const page = () => app.page;
  const status = () => page().getByTestId('deployment-file');
  const state = () => status().getAttribute('data-state');
  const nav = (label: string) => page().getByRole('button', { name: label, exact: true }).click();

  beforeAll(async () => {
    buildApp();
    cpSync(join(repoRoot, 'test/fixtures/sklearn-iris'), IRIS, { recursive: true });
    writeFileSync(TOML, committed);
    seed(home);
    // A new berth.toml names the model from the analysis: Debian's python3 has the fixture's scikit-learn.
    app = await startApp({ PATH: `/usr/bin:/bin:${process.env.PATH}` }, home);
    await nav('Deployments');
  });
  afterAll(async () => {
    await app?.close();
    rmSync(join(IRIS, '..'), { recursive: true, force: true });
  });

  it('takes the settings from berth.toml and says so', async () => {
    await expect.poll(state, { timeout: 30_000 }).toBe('in-sync');
    expect(await page().getByLabel('Group').inputValue()).toBe(GROUP);
    expect(await page().getByLabel('Memory limit').inputValue()).toBe('512');
    expect(await page().getByLabel('Replicas per server').inputValue()).toBe('1');
    expect(await status().textContent()).toContain('in sync with berth.toml');
    expect(await status().textContent()).toContain(TOML);
  });

  it('shows the diff of a changed memory limit, and writes it only on confirm', async () => {
    await page().getByLabel('Memory limit').fill('768');
    await expect.poll(state).toBe('changed');
    await page().getByRole('button', { name: 'Update berth.toml' }).click();
    const diff = page().getByTestId('deployment-file-diff');
    await expect.poll(() => diff.textContent()).toContain('+memory_mb = 768');
    expect(await diff.textContent()).toContain('-memory_mb = 512');
    await app.screenshot('deployments-berth-toml-diff');
    expect(readFileSync(TOML, 'utf8')).toBe(committed);

    await page().getByRole('button', { name: 'Write berth.toml' }).click();
    await expect.poll(state).toBe('in-sync');
    expect(await diff.count()).toBe(0);
    expect(parseProjectFile(readFileSync(TOML, 'utf8'))).toMatchObject({ model: 'sklearn-iris', base_image: BASE_IMAGE, replicas: 1, memory_mb: 768, group: { name: GROUP } });
    expect(await page().getByLabel('Memory limit').inputValue()).toBe('768');
  });

  it('shows the issues of an invalid berth.toml with their lines, and deploys nothing until it is fixed', async () => {
    const good = readFileSync(TOML, 'utf8');
    const broken = good.replace('memory_mb = 768', 'memory_mb = "lots"');
    const line = broken.split('\n').indexOf('memory_mb = "lots"') + 1;
    writeFileSync(TOML, broken);
    // Coming back to the page reads the project's berth.toml again.
    await nav('Projects');
    await nav('Deployments');
    await expect.poll(state).toBe('invalid');
    expect(await page().getByTestId('deployment-file-issues').textContent()).toMatch(new RegExp(`line ${line}: memory_mb: .*expected number`));
    expect(await page().getByRole('button', { name: `Deploy to ${GROUP}` }).isDisabled()).toBe(true);
    await app.screenshot('deployments-berth-toml-invalid');
    expect(readFileSync(TOML, 'utf8')).toBe(broken);

    writeFileSync(TOML, good);
    await page().getByRole('button', { name: 'Read again' }).click();
    await expect.poll(state).toBe('in-sync');
    expect(await page().getByRole('button', { name: `Deploy to ${GROUP}` }).isDisabled()).toBe(false);
  });

  it('saves a project without one as berth.toml, naming this Berth’s group and its pinned host key', async () => {
    rmSync(TOML);
    await nav('Projects');
    await nav('Deployments');
    await expect.poll(state).toBe('none');
    await page().getByRole('button', { name: 'Save as berth.toml' }).click();
    const diff = page().getByTestId('deployment-file-diff');
    // The model's name comes from the project's analysis, which runs its notebook once.
    await expect.poll(() => diff.textContent(), { timeout: 60_000 }).toContain('+model = "sklearn-iris"');
    expect(existsSync(TOML)).toBe(false);
    await page().getByRole('button', { name: 'Write berth.toml' }).click();
    // Writing describes the project again (the file is made from what is true now, not from the preview's moment).
    await expect.poll(state, { timeout: 60_000 }).toBe('in-sync');
    expect(parseProjectFile(readFileSync(TOML, 'utf8'))).toMatchObject({ model: 'sklearn-iris', memory_mb: 768, group: { name: GROUP, servers: [{ name: 'toml-a', host: '127.0.0.1', port: 1, host_key: FP }] } });
  });

  it('audits each write, and no preview', () => {
    const db = openDatabase(join(home, 'berth.db'));
    try {
      const entries = db.prepare<[], { entry: string }>('SELECT entry FROM audit_log ORDER BY seq').all().map((row) => JSON.parse(row.entry));
      const writes = entries.filter((e) => e.action === 'project.deployment');
      expect(writes.map((e) => [e.target, e.result, e.details.written])).toEqual([
        [IRIS, 'ok', true],
        [IRIS, 'ok', true],
      ]);
    } finally {
      db.close();
    }
  });
});
