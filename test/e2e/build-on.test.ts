import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildRecords } from '../../electron/main/services/build/records';
import { renderProjectFile } from '../../electron/main/services/project/project-file';
import { createServerRegistry } from '../../electron/main/services/servers/registry';
import { openDatabase } from '../../electron/main/services/store/database';
import { createSettingsRepo } from '../../electron/main/services/store/settings';
import { buildApp, dropPath, repoRoot, startApp, type RunningApp } from './harness';

/** Two copies of the iris project: one deploys to a group without servers, one to a group of one arm64 server. */
const ROOT = mkdtempSync(join(tmpdir(), 'berth-e2e-build-on-'));
const TO_EMPTY = join(ROOT, 'to-empty', 'sklearn-iris');
const TO_ARM = join(ROOT, 'to-arm', 'sklearn-iris');
const FP = `SHA256:${'R'.repeat(43)}`;
const BASE_IMAGE = 'berth-base/python:3.11-bookworm';

function berthToml(group: string): string {
  return renderProjectFile({ model: 'sklearn-iris', replicas: 1, memory_mb: 512, group: { name: group, servers: [{ name: 'tb1', host: '127.0.0.1', port: 1, host_key: FP }] } });
}

/**
 * A data folder whose Settings build a deploy's image on a server; groups `empty-e2e` (no server) and `arm-e2e` (tb1,
 * an aarch64 server nothing dials successfully: port 1); a smoke-tested build of TO_EMPTY from an older notebook, and
 * a newer one of another project. Nothing this test does reaches a server or builds an image.
 */
function seed(home: string): number {
  const db = openDatabase(join(home, 'berth.db'));
  try {
    createSettingsRepo(db).update({ buildOn: 'server', baseImage: BASE_IMAGE });
    const registry = createServerRegistry(db);
    const tb1 = registry.insert({ name: 'tb1', host: '127.0.0.1', port: 1, username: 'root', auth: 'agent', keySecretId: null, keyOrigin: null, hostKeyType: 'ssh-ed25519', hostKeyFingerprint: FP });
    registry.setArch(tb1.id, 'aarch64');
    registry.updateGroup(registry.createGroup('arm-e2e', 1).id, { serverIds: [tb1.id] });
    registry.createGroup('empty-e2e', 1);
    const records = createBuildRecords(db);
    const passed = (projectPath: string, project: string) => {
      const build = records.add({
        projectPath,
        project,
        imageTag: `berth/${project}:build-on-e2e`,
        imageId: 'sha256:build-on-e2e',
        notebookHash: 'an-older-notebook',
        contextHash: null,
        dockerfile: `FROM ${BASE_IMAGE}`,
        requirements: '',
        status: 'succeeded',
        sizeBytes: null,
        durationMs: null,
        error: null,
      });
      records.setSmoke(build.id, { status: 'passed', readyMs: 1, durationMs: 1, input: {}, output: {} });
      return build.id;
    };
    const irisBuild = passed(TO_EMPTY, 'sklearn-iris');
    passed(join(ROOT, 'churn'), 'churn');
    return irisBuild;
  } finally {
    db.close();
  }
}

describe('Build on: where a build runs, per build, with Berth’s proposal (Chromium)', () => {
  let app: RunningApp;
  let irisBuild: number;
  const home = mkdtempSync(join(tmpdir(), 'berth-e2e-build-on-home-'));
  const page = () => app.page;
  const nav = (label: string) => page().getByRole('button', { name: label, exact: true }).click();
  const buildOn = () => page().getByLabel('Build on', { exact: true });
  const proposal = () => page().locator('[data-testid=build-proposal]');

  async function open(path: string) {
    await nav('Projects');
    await dropPath(page(), '[data-testid=dropzone]', path);
    // The header names the new project at once; its panels show once it is analysed.
    await expect.poll(() => page().textContent('[data-testid=current-project]'), { timeout: 30_000 }).toContain(path);
    await page().locator('[data-testid=build-on]').waitFor({ timeout: 60_000 });
  }

  beforeAll(async () => {
    buildApp();
    for (const [path, group] of [[TO_EMPTY, 'empty-e2e'], [TO_ARM, 'arm-e2e']]) {
      cpSync(join(repoRoot, 'test/fixtures/sklearn-iris'), path, { recursive: true });
      writeFileSync(join(path, 'berth.toml'), berthToml(group));
    }
    irisBuild = seed(home);
    // The notebook's interpreter is Debian's python3, which has the fixture's scikit-learn.
    app = await startApp({ PATH: `/usr/bin:/bin:${process.env.PATH}` }, home);
  });
  afterAll(async () => {
    await app?.close();
    rmSync(ROOT, { recursive: true, force: true });
  });

  it('refuses a server build for a group without servers, and builds nowhere else, until the user chooses this computer', async () => {
    await open(TO_EMPTY);
    expect(await buildOn().inputValue()).toBe('server');
    expect(await proposal().textContent()).toBe("Proposed: this computer — the group's platform is not known");
    const reason = page().locator('[data-testid=build-blocked-reason]');
    await expect.poll(() => reason.textContent()).toBe('Group "empty-e2e" has no server to build on: add a server to it, or build locally');
    expect(await reason.getAttribute('class')).toBe('bad');
    expect(await page().locator('[data-testid=build-button]').isDisabled()).toBe(true);
    expect(await page().locator('[data-testid=build-shortcut]').isDisabled()).toBe(true);
    await app.screenshot('build-on-refused');

    await buildOn().selectOption('local');
    await expect.poll(() => page().locator('[data-testid=build-button]').isEnabled()).toBe(true);
    expect(await reason.count()).toBe(0);
  });

  it('proposes the group’s server when this engine builds another platform, and offers each of the group’s servers', async () => {
    await open(TO_ARM);
    await expect.poll(() => proposal().textContent()).toBe("Proposed: tb1 — the group runs linux/arm64 and this computer's engine builds linux/amd64");
    const options = await buildOn().locator('option').allTextContents();
    expect(options).toEqual(['Proposed: tb1', 'This computer', 'tb1']);
    // Settings say "a server of the group": its first, tb1.
    expect(await buildOn().locator('option:checked').textContent()).toBe('tb1');
    await buildOn().selectOption('auto');
    expect(await page().locator('[data-testid=build-button]').isEnabled()).toBe(true);
    await app.screenshot('build-on-proposal');
  });

  it('shows the Dockerfile from a new base image as soon as Settings have it', async () => {
    await nav('Settings');
    await page().getByLabel('Base image', { exact: true }).fill('berth-base/python:{python}-e2e');
    await page().getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page().textContent('main')).toContain('Saved');
    await nav('Projects');
    await expect.poll(() => page().textContent('[data-testid=dockerfile]'), { timeout: 60_000 }).toContain('starts from berth-base/python:3.11-e2e');
  });

  it('says when the last build is older than the notebook', async () => {
    await open(TO_EMPTY);
    const last = page().locator('[data-testid=last-build]');
    await expect.poll(() => last.textContent()).toContain('older than the notebook: it changed since this build');
  });

  it('deploys the build whose smoke test passed, listed by project, number and smoke test', async () => {
    await page().locator('[data-testid=deploy-build]').click();
    const build = page().getByLabel('Build', { exact: true });
    await expect.poll(() => build.inputValue()).toBe(String(irisBuild));
    expect(await build.locator('option:checked').textContent()).toMatch(new RegExp(`^sklearn-iris #${irisBuild} · smoke test passed · `));
    expect((await build.locator('option').allTextContents()).filter((text) => text.includes('berth/'))).toEqual([]);
  });
});
