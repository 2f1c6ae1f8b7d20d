/**
 * The first hour (issue 16), clicked through in Chromium: a fresh data folder with no server, the checklist, "Use this
 * computer", the bundled example opened, built and smoke-tested, deployed to this computer, a key created, and the
 * curl command the page shows run as pasted, whose answer the test checks. A screenshot of each step.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../electron/main/services/store/database';
import { createSettingsRepo } from '../../electron/main/services/store/settings';
import { resetThisComputer } from '../integration/this-computer/support';
import { buildApp, startApp, type RunningApp } from './harness';

const MODEL = 'iris-classifier';
const run = promisify(execFile);

/** A fresh data folder whose only setting is the local base image (nothing can be pulled here). */
function freshHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'berth-e2e-first-hour-'));
  const db = openDatabase(join(home, 'berth.db'));
  try {
    createSettingsRepo(db).update({ baseImage: 'berth-base/python:{python}-bookworm' });
  } finally {
    db.close();
  }
  return home;
}

describe('from a fresh data folder to a working endpoint on this computer, in Chromium', () => {
  let app: RunningApp;
  beforeAll(async () => {
    buildApp();
    resetThisComputer();
    // The example's interpreter is Debian's python3 (with scikit-learn); the first python3 on PATH here lacks it.
    app = await startApp({ PATH: `/usr/bin:/bin:${process.env.PATH}` }, freshHome(), { checklist: true });
  });
  afterAll(async () => {
    await app?.close();
    resetThisComputer();
    execFileSync('sh', ['-c', `docker rmi -f $(docker images -q 'berth/${MODEL}') >/dev/null 2>&1; true`]);
  });

  const page = () => app.page;
  const checklist = () => page().locator('[data-testid=checklist]');
  const stepState = (id: string) => checklist().locator(`[data-testid=checklist-${id}]`).getAttribute('data-state');

  it('the checklist shows what is there and what is to do', async () => {
    await checklist().waitFor();
    await expect.poll(() => stepState('engine'), { timeout: 20_000 }).toBe('done');
    await expect.poll(() => stepState('baseImage'), { timeout: 20_000 }).toBe('done');
    expect(await stepState('target')).toBe('todo');
    await app.screenshot('first-hour-1-checklist');
  });

  it('"Use this computer" makes this computer the target', async () => {
    await checklist().getByRole('button', { name: 'Use this computer' }).click();
    await expect.poll(() => stepState('target'), { timeout: 90_000 }).toBe('done');
    await app.screenshot('first-hour-2-this-computer');
  });

  it('opens the example, builds it and passes the smoke test', async () => {
    await checklist().getByRole('button', { name: 'Open the example project' }).click();
    await page().locator('[data-testid=analysis]').waitFor({ timeout: 60_000 });
    await expect.poll(() => page().locator('[data-testid=build-button]').isEnabled(), { timeout: 60_000 }).toBe(true);
    await page().locator('[data-testid=build-button]').click();
    const smoke = page().locator('[data-testid=smoke]');
    await expect.poll(() => smoke.getAttribute('data-status'), { timeout: 240_000, interval: 1000 }).toMatch(/passed|failed|skipped/);
    expect(await smoke.getAttribute('data-status'), (await smoke.textContent()) ?? '').toBe('passed');
    await app.screenshot('first-hour-3-built');
  });

  it('deploys the build to this computer from the smoke test’s Deploy…', async () => {
    await page().locator('[data-testid=smoke]').getByRole('button', { name: 'Deploy…' }).click();
    const deploy = page().getByRole('button', { name: 'Deploy to local' });
    await expect.poll(() => deploy.isEnabled(), { timeout: 30_000 }).toBe(true);
    await deploy.click();
    await expect.poll(() => page().textContent('[data-testid=deploy-notice]'), { timeout: 240_000 }).toMatch(new RegExp(`${MODEL} v1 is live`));
    await expect.poll(() => page().textContent('[data-testid=endpoints]')).toContain(`http://127.0.0.1:8700/${MODEL}/latest/predict`);
    // Loopback only: no warning that keys cross the network.
    expect(await page().locator('[data-testid=plain-http-warning]').count()).toBe(0);
    expect(await page().textContent('[data-testid=loopback-note]')).toContain('127.0.0.1 only');
    await app.screenshot('first-hour-4-deployed');
  });

  it('the curl command on the page answers, run as pasted with a key made on the Access page', async () => {
    const curl = (await page().textContent('[data-testid=curl-snippet]'))!;
    expect(curl).toContain('$BERTH_API_KEY');

    await page().getByRole('button', { name: 'Access', exact: true }).click();
    await page().getByLabel('Key name').fill('first-hour');
    await page().getByRole('button', { name: 'Create key' }).click();
    const secret = (await page().getByTestId('secret').textContent())!.trim();
    await app.screenshot('first-hour-5-key');
    await page().getByRole('button', { name: 'I have stored the key' }).click();

    // The gateway re-reads its table within a second of the key's publication.
    // Run without blocking this process: the web server's output comes through it.
    let answer = '';
    for (let attempt = 0; attempt < 20 && !answer.includes('predictions'); attempt++) {
      answer = (await run('bash', ['-c', curl], { env: { ...process.env, BERTH_API_KEY: secret }, timeout: 10_000 })).stdout;
      if (!answer.includes('predictions')) await new Promise((r) => setTimeout(r, 250));
    }
    expect(JSON.parse(answer)).toMatchObject({ predictions: ['setosa', 'virginica'], model_version: '1' });

    await page().getByRole('button', { name: 'Projects', exact: true }).click();
    await expect.poll(() => stepState('example'), { timeout: 30_000 }).toBe('done');
    await app.screenshot('first-hour-6-done');
  });
});
