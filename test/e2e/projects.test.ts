import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { WebSocket } from 'ws';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator } from 'playwright-core';
import { buildApp, dropPath, repoRoot, startApp, type RunningApp } from './harness';

/** A copy of the fixtures: saving or resetting reviewed files writes them into a project's .berth/, never into the repository. */
const FIXTURES = join(mkdtempSync(join(tmpdir(), 'berth-e2e-projects-')), 'fixtures');
cpSync(join(repoRoot, 'test/fixtures'), FIXTURES, { recursive: true });
const IRIS = join(FIXTURES, 'sklearn-iris');
/** Nothing can be pulled here: builds start from the local debootstrapped image (test/bed/base-image.sh). */
const BASE_IMAGE = 'berth-base/python:3.11-bookworm';
const COMMENT = '# e2e: a harmless comment kept across reloads';
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

/** The lines Monaco shows (it draws only the lines in view, spaces as non-breaking ones). */
async function editorText(editor: Locator): Promise<string> {
  return ((await editor.locator('.view-lines').textContent()) ?? '').replace(/\u00a0/g, ' ');
}

/** The end of an editor's text: moves its cursor to the end first, so the last lines are in view. */
async function editorTail(editor: Locator): Promise<string> {
  await editor.locator('.view-lines').click();
  await editor.page().keyboard.press('Control+End');
  return editorText(editor);
}

/** One contract call over the web transport's socket, as the page makes them (for cleanup). */
async function rpc(app: RunningApp, name: string, input: unknown): Promise<unknown> {
  const url = new URL(app.url);
  const ws = new WebSocket(`ws://${url.host}/rpc?token=${url.hash.replace('#token=', '')}`);
  try {
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not answer in 10 s`)), 10_000);
      ws.on('message', (data) => {
        const message = JSON.parse(String(data));
        if (message.t !== 'result' || message.id !== 'cleanup') return;
        clearTimeout(timer);
        if (message.result.ok) resolve(message.result.value);
        else reject(new Error(message.result.error.message));
      });
      ws.send(JSON.stringify({ t: 'call', id: 'cleanup', name, input }));
    });
  } finally {
    ws.close();
  }
}

describe('Projects: packaging a notebook in Chromium (web mode)', () => {
  let app: RunningApp;

  beforeAll(async () => {
    buildApp();
    // The notebook's interpreter is Debian's python3 (with scikit-learn, as on the data scientist's machine);
    // this machine's first python3 on PATH is a bare pyenv one without it.
    app = await startApp({ PATH: `/usr/bin:/bin:${process.env.PATH}` });
  });
  afterAll(async () => {
    if (!app) return;
    // Every image this test built (the data folder is fresh, so these are all ours).
    const builds = (await rpc(app, 'build.list', {}).catch(() => [])) as { imageTag: string | null }[];
    for (const { imageTag } of builds) if (imageTag) await docker.getImage(imageTag).remove({ force: true }).catch(() => {});
    await app.close();
  });

  const page = () => app.page;
  const nav = (label: string) => page().getByRole('button', { name: label, exact: true }).click();
  const dockerfileEditor = () => page().locator('[data-testid=editor-dockerfile]');

  it('uses the local base image (Settings)', async () => {
    await nav('Settings');
    await page().getByLabel('Base image').fill(BASE_IMAGE);
    await page().getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page().textContent('main')).toContain('Saved');
  });

  it('analyses a dropped project: notebook, interpreter, entrypoint, module, dependencies', async () => {
    await nav('Projects');
    await dropPath(page(), '[data-testid=dropzone]', IRIS);
    const analysis = page().locator('[data-testid=analysis]');
    await analysis.waitFor({ timeout: 60_000 });
    const text = (await analysis.textContent()) ?? '';
    expect(text).toContain('model.ipynb');
    expect(text).toContain('/usr/bin/python3');
    expect(text).toMatch(/Python 3\.11\.\d/);
    expect(text).toContain(BASE_IMAGE);
    expect(await page().locator('[data-testid=entrypoint]').inputValue()).toBe('predict');
    expect(await page().textContent('[data-testid=findings]')).toContain('No problems found');
    expect(await page().textContent('[data-testid=current-project]')).toContain('ready to build');

    const module = page().locator('[data-testid=editor-module]');
    await expect.poll(() => editorText(module)).toContain('def predict(inputs):');
    expect(await page().textContent('[data-testid=module]')).toMatch(/cell 3 · lines \d+–\d+/);
    expect(await page().textContent('[data-testid=module]')).toContain('cell 2 (tagged training)');

    const sklearn = page().locator('[data-dependency=scikit-learn]');
    expect(await sklearn.getAttribute('data-status')).toBe('pinned');
    expect(await sklearn.textContent()).toContain('1.2.1');
    await app.screenshot('projects-analysis');
  });

  it('keeps a Dockerfile edit, shows the generator’s changes as a diff, and never overwrites it', async () => {
    const editor = dockerfileEditor();
    await editor.scrollIntoViewIfNeeded();
    await editor.locator('.view-lines').click();
    await page().keyboard.press('Control+End');
    await page().keyboard.type(COMMENT);
    await expect.poll(() => page().locator('[data-testid=file-dockerfile]').textContent()).toContain('unsaved changes');
    await page().getByRole('button', { name: 'Save Dockerfile' }).click();
    await page().locator('[data-testid=dockerfile-edited]').waitFor();
    // Saved is reviewed: the project carries the file, so CI builds exactly this.
    expect(readFileSync(join(IRIS, '.berth/Dockerfile'), 'utf8')).toContain(COMMENT);

    // Serving another function changes the generated Dockerfile: the edit stays, the diff is offered.
    await page().locator('[data-testid=entrypoint]').selectOption('describe');
    const changed = page().locator('[data-testid=dockerfile-generator-changed]');
    await changed.waitFor({ timeout: 60_000 });
    const diff = (await changed.locator('[data-testid=generator-diff]').textContent()) ?? '';
    expect(diff).toContain('-    BERTH_ENTRYPOINT=predict');
    expect(diff).toContain('+    BERTH_ENTRYPOINT=describe');
    expect(await editorText(editor)).toContain(COMMENT);
    expect(await editorText(editor)).toContain('BERTH_ENTRYPOINT=predict');
    await app.screenshot('projects-dockerfile');

    await changed.getByRole('button', { name: 'Apply suggestion' }).click();
    await changed.waitFor({ state: 'detached' });
    await expect.poll(() => editorText(editor)).toContain('BERTH_ENTRYPOINT=describe');
    expect(await editorText(editor)).toContain(COMMENT);

    // Back to predict: the generator changes again, and again the user decides.
    await page().locator('[data-testid=entrypoint]').selectOption('predict');
    await changed.waitFor({ timeout: 60_000 });
    await changed.getByRole('button', { name: 'Apply suggestion' }).click();
    await changed.waitFor({ state: 'detached' });
    await expect.poll(() => editorText(editor)).toContain('BERTH_ENTRYPOINT=predict');

    // A reload, then opening the project again from the recent list: the edit is still there.
    await page().reload();
    await nav('Projects');
    await page().locator('[data-testid=recent-projects]').getByRole('button', { name: 'sklearn-iris', exact: true }).click();
    await page().locator('[data-testid=dockerfile-edited]').waitFor({ timeout: 60_000 });
    await dockerfileEditor().scrollIntoViewIfNeeded();
    await expect.poll(() => editorTail(dockerfileEditor())).toContain(COMMENT);
    expect(await editorText(dockerfileEditor())).toContain('BERTH_ENTRYPOINT=predict');
    expect(await page().locator('[data-testid=entrypoint]').inputValue()).toBe('predict');
    expect(await page().locator('[data-testid=dockerfile-generator-changed]').count()).toBe(0);
  });

  it('builds with the edited Dockerfile, streams the output, and passes the smoke test', async () => {
    const started = Date.now();
    await page().locator('[data-testid=build-button]').click();
    await page().locator('[data-testid=cancel-build]').waitFor();
    // xterm keeps in the DOM only the rows in view; the output streams in while the build runs.
    const terminal = page().locator('[data-testid=terminal-build] .xterm-rows');
    await expect.poll(() => terminal.textContent(), { timeout: 60_000, interval: 100 }).toMatch(/Step \d+\/\d+ : /);
    expect(await page().locator('[data-testid=cancel-build]').count(), 'log lines arrive before the build ends').toBe(1);

    const smoke = page().locator('[data-testid=smoke]');
    await expect.poll(() => smoke.getAttribute('data-status'), { timeout: 240_000, interval: 1000 }).toMatch(/passed|failed|skipped/);
    expect(await smoke.getAttribute('data-status'), (await smoke.textContent()) ?? '').toBe('passed');
    const tag = ((await page().locator('[data-testid=build-result] .mono').textContent()) ?? '').trim();
    expect(tag).toMatch(/^berth\/sklearn-iris:b\d{8}-\d{6}-[0-9a-f]{8}$/);
    expect(await page().textContent('[data-testid=smoke-input]')).toBe('[[5.1,3.5,1.4,0.2]]');
    expect(await page().textContent('[data-testid=smoke-output]')).toBe('[0]');
    expect(await page().textContent('[data-testid=deploy-gate]')).toContain('Ready to deploy');
    expect(await page().locator('[data-testid=build-progress]').getAttribute('data-status')).toBe('succeeded');
    // The whole output stays searchable: the first lines are far out of view by now.
    await page().getByLabel('Search the build output').fill('Using the reviewed .berth/Dockerfile');
    await page().getByRole('button', { name: 'Next match' }).click();
    await expect.poll(() => terminal.textContent()).toContain('Using the reviewed .berth/Dockerfile.');
    await page().getByLabel('Search the build output').fill('FROM berth-base');
    await page().getByRole('button', { name: 'Next match' }).click();
    await expect.poll(() => terminal.textContent()).toMatch(/Step 1\/\d+ : FROM berth-base\/python:3\.11-bookworm/);

    const inspect = await docker.getImage(tag).inspect();
    expect(inspect.Config.Labels?.['berth.entrypoint']).toBe('predict');
    console.log(`build + smoke test: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    await app.screenshot('projects-build');
  });

  it('shows a failed smoke test with the differences and the container log, and blocks the deploy', async () => {
    // An edit that makes the image serve another function: it builds, but does not answer like the notebook.
    const editor = dockerfileEditor();
    await editor.scrollIntoViewIfNeeded();
    await editor.locator('.view-lines').click();
    await page().keyboard.press('Control+End');
    await page().keyboard.press('Enter');
    await page().keyboard.type('ENV BERTH_ENTRYPOINT=describe');
    await page().locator('[data-testid=build-button]').click(); // "Save and build"
    // Saving comes first: until this build starts, the card still shows the last build's passed smoke test.
    await page().locator('[data-testid=cancel-build]').waitFor();
    const smoke = page().locator('[data-testid=smoke]');
    await expect.poll(() => smoke.getAttribute('data-status'), { timeout: 240_000, interval: 1000 }).toMatch(/passed|failed|skipped/);
    expect(await smoke.getAttribute('data-status')).toBe('failed');
    expect(await page().locator('[data-testid=build-progress]').getAttribute('data-status')).toBe('failed');
    const differences = (await page().textContent('[data-testid=smoke-differences]')) ?? '';
    expect(differences).toContain('[0]');
    expect(differences).toContain('"rows":1');
    expect(await page().textContent('[data-testid=deploy-gate]')).toContain('Deploy blocked: the image did not answer like the notebook');
    expect(await page().locator('[data-testid=deploy-gate] button').isDisabled()).toBe(true);
    await app.screenshot('projects-smoke-failed');

    await page().getByRole('button', { name: 'Reset to generated' }).click();
    await page().getByRole('button', { name: 'Yes, reset' }).click();
    await page().locator('[data-testid=dockerfile-edited]').waitFor({ state: 'detached' });
  });

  it('cancels a running build', async () => {
    // A slow step so there is something to cancel; Docker's cache answers every step before it.
    const editor = dockerfileEditor();
    await editor.scrollIntoViewIfNeeded();
    await editor.locator('.view-lines').click();
    await page().keyboard.press('Control+End');
    await page().keyboard.press('Enter');
    await page().keyboard.type('RUN sleep 120');
    await page().keyboard.press('Control+s');
    await page().locator('[data-testid=dockerfile-edited]').waitFor();
    await page().locator('[data-testid=build-button]').click();
    const terminal = page().locator('[data-testid=terminal-build] .xterm-rows');
    await expect.poll(() => terminal.textContent(), { timeout: 120_000 }).toMatch(/RUN sleep 120/);
    await page().locator('[data-testid=cancel-build]').click();
    await expect.poll(() => page().locator('[data-testid=build-progress]').getAttribute('data-status')).toBe('cancelled');
    await expect.poll(() => terminal.textContent()).toContain('Cancelled');
    // Cancelling stops Docker too: the step's container goes away.
    const sleeping = async () =>
      (await docker.listContainers({ all: true })).filter((c) => c.Command.includes('sleep 120')).length;
    await expect.poll(sleeping, { timeout: 30_000, interval: 500 }).toBe(0);
    expect(await page().textContent('[data-testid=deploy-gate]')).toContain('Deploy blocked');
    await page().locator('[data-testid=build-button]').waitFor();
    expect(await page().locator('[data-testid=build-button]').isEnabled()).toBe(true);

    // Reset asks first, then drops the edit: the generated Dockerfile again.
    await page().getByRole('button', { name: 'Reset to generated' }).click();
    await page().getByRole('button', { name: 'Yes, reset' }).click();
    await page().locator('[data-testid=dockerfile-edited]').waitFor({ state: 'detached' });
    const text = await editorTail(editor);
    expect(text).not.toContain('sleep 120');
  });

  it('shows blocking findings by severity and disables the Build button', async () => {
    await dropPath(page(), '[data-testid=dropzone]', join(FIXTURES, 'broken'));
    const errors = page().locator('[data-testid=findings-error] .finding');
    await expect.poll(() => errors.count(), { timeout: 60_000 }).toBe(7);
    expect(await page().locator('[data-testid=build-button]').isDisabled()).toBe(true);
    expect(await page().locator('[data-testid=build-shortcut]').isDisabled()).toBe(true);
    expect(await page().textContent('[data-testid=build-blocked-reason]')).toContain('7 errors block the build');
    expect(await page().locator('[data-testid=findings-warning] .finding').count()).toBe(2);
    const training = page().locator('.finding[data-code=training-at-start]');
    expect(await training.textContent()).toContain('model.ipynb · cell 2, line 4');

    // An import no installed package provides: the user says which distribution and version.
    const lightgbm = page().locator('[data-dependency=lightgbm]');
    expect(await lightgbm.getAttribute('data-status')).toBe('unresolved');
    await page().getByLabel('Distribution for lightgbm').fill('lightgbm');
    await page().getByLabel('Version for lightgbm').fill('4.1.0');
    await lightgbm.getByRole('button', { name: 'Use' }).click();
    await expect.poll(() => lightgbm.textContent()).toContain('chosen');
    await expect.poll(() => editorText(page().locator('[data-testid=editor-requirements]'))).toContain(
      'lightgbm==4.1.0  # for import lightgbm (chosen in Berth)',
    );

    await app.screenshot('projects-findings');
  });

  it('explains a notebook that is not valid JSON', async () => {
    await dropPath(page(), '[data-testid=dropzone]', join(FIXTURES, 'invalid-json'));
    const problem = page().locator('[data-testid=project-error]');
    await problem.waitFor({ timeout: 60_000 });
    expect(await problem.getAttribute('data-kind')).toBe('ProjectInvalid');
    expect(await problem.textContent()).toMatch(/model\.ipynb is not valid JSON \(line 7, column 2/);
    expect(await page().locator('[data-testid=build-button]').count()).toBe(0);
    expect(await page().textContent('[data-testid=current-project]')).toContain(join(FIXTURES, 'invalid-json'));
  });
});
