import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../electron/main/services/store/database';
import { createSettingsRepo } from '../../electron/main/services/store/settings';
import { buildApp, startApp, type RunningApp } from './harness';

/** Nothing can be pulled here: the base image is the local debootstrapped one (test/bed/base-image.sh). */
const BASE_IMAGE = 'berth-base/python:{python}-bookworm';

/** A fresh data folder whose only setting is the local base image, as a newcomer's would name the one they have. */
function freshHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'berth-e2e-onboarding-'));
  const db = openDatabase(join(home, 'berth.db'));
  try {
    createSettingsRepo(db).update({ baseImage: BASE_IMAGE });
  } finally {
    db.close();
  }
  return home;
}

describe('First-run checklist in Chromium (web mode)', () => {
  let app: RunningApp;

  beforeAll(async () => {
    buildApp();
    // The example's interpreter is Debian's python3 (with scikit-learn); the first python3 on PATH here lacks it.
    app = await startApp({ PATH: `/usr/bin:/bin:${process.env.PATH}` }, freshHome(), { checklist: true });
  });
  afterAll(async () => {
    await app?.close();
  });

  const page = () => app.page;
  const checklist = () => page().locator('[data-testid=checklist]');
  const stepState = (id: string) => checklist().locator(`[data-testid=checklist-${id}]`).getAttribute('data-state');
  const nav = (label: string) => page().getByRole('button', { name: label, exact: true }).click();

  it('appears on first start: Docker and the base image found, a target and the example still to do', async () => {
    await checklist().waitFor();
    await expect.poll(() => stepState('engine'), { timeout: 20_000 }).toBe('done');
    await expect.poll(() => stepState('baseImage'), { timeout: 20_000 }).toBe('done');
    expect(await stepState('target')).toBe('todo');
    expect(await stepState('example')).toBe('todo');
    const text = (await checklist().textContent()) ?? '';
    expect(text).toContain('berth-base/python:3.11-bookworm is on this computer');
    for (const action of ['Use this computer', 'Add a server', 'Import from ~/.ssh/config', 'Open the example project']) {
      expect(await checklist().getByRole('button', { name: action }).count()).toBe(1);
    }
    await app.screenshot('onboarding-checklist');
  });

  it('"Open the example project" opens the copy in the data folder, with its notebook analysed', async () => {
    await checklist().getByRole('button', { name: 'Open the example project' }).click();
    const project = page().locator('[data-testid=current-project]');
    await project.waitFor({ timeout: 20_000 });
    expect(await project.textContent()).toContain(join(app.home, 'examples', 'iris-classifier'));
    const analysis = page().locator('[data-testid=analysis]');
    await analysis.waitFor({ timeout: 60_000 });
    expect(await analysis.textContent()).toContain('iris_classifier.ipynb');
    expect(await page().locator('[data-testid=entrypoint]').inputValue()).toBe('predict');
    expect(await page().textContent('[data-testid=findings]')).toContain('No problems found');
    await app.screenshot('onboarding-example');
  });

  it('Skip hides it for good (a reload keeps it hidden), and Settings shows it again', async () => {
    await checklist().getByRole('button', { name: 'Skip' }).click();
    await checklist().waitFor({ state: 'detached' });
    await page().reload();
    await page().locator('[data-testid=dropzone]').waitFor();
    expect(await checklist().count()).toBe(0);

    await nav('Settings');
    await page().getByRole('button', { name: 'Show the first-run checklist' }).click();
    await checklist().waitFor();
    await expect.poll(() => stepState('engine'), { timeout: 20_000 }).toBe('done');
    await app.screenshot('onboarding-reopened');
  });
});
