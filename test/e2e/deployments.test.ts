import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../electron/main/app';
import type { BuildEvent } from '../../shared/build';
import { loadBed, registerBed } from '../integration/bed';
import { buildApp, repoRoot, startApp, type RunningApp } from './harness';

const bed = loadBed();
const MODEL = 'sklearn-iris';

/** Seeds a data folder the way a user would have: servers, a group, one smoke-tested build, one deploy. */
async function seed(home: string): Promise<void> {
  const berth = createBerth({ home, mode: 'cli', version: 'e2e' });
  try {
    berth.services.settings.update({ baseImage: 'berth-base/python:3.11-bookworm', gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
    await registerBed(berth, bed, { group: { name: 'prod', replicas: 2 } });
    let buildId: number | undefined;
    await berth.services.builds.run(
      // The project's interpreter: Debian's python3 has the fixture's scikit-learn (a pyenv python3 may come first on PATH).
      { path: join(repoRoot, 'test/fixtures/sklearn-iris'), options: { interpreter: '/usr/bin/python3' } },
      (e: BuildEvent) => void (e.type === 'result' && (buildId = e.buildId)),
      new AbortController().signal,
    );
    await berth.services.deploy.deployBuild({ buildId: buildId!, group: 'prod', memoryMb: 512 }, () => {}, new AbortController().signal);
  } finally {
    berth.close();
  }
}

describe('deployments page in Chromium', () => {
  let app: RunningApp;
  beforeAll(async () => {
    buildApp();
    const home = mkdtempSync(join(tmpdir(), 'berth-e2e-deploy-'));
    await seed(home);
    app = await startApp({}, home);
    await app.page.getByRole('button', { name: 'Deployments', exact: true }).click();
  }, 600_000);
  afterAll(async () => {
    for (const server of bed.servers) {
      execFileSync('ssh', ['-F', bed.sshConfig, server.name, `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q berth/${MODEL}) 2>/dev/null; true`], { stdio: 'ignore' });
    }
    await app?.close();
  });

  it('deploys with one click and shows per-server progress', async () => {
    const page = app.page;
    await expect.poll(() => page.textContent('[data-testid=timeline]'), { timeout: 30_000 }).toContain('v1');
    await page.getByLabel('Deploy message').fill('second release');
    await page.getByRole('button', { name: 'Deploy to prod' }).click();
    await expect.poll(() => page.textContent('[data-testid=deploy-notice]'), { timeout: 240_000 }).toMatch(/sklearn-iris v2 is live/);
    for (const server of bed.servers) {
      await expect.poll(() => page.locator(`[data-testid=deploy-progress] [data-server=${server.name}]`).textContent()).toMatch(/done/);
    }
    await app.screenshot('deployments-progress');
  });

  it('shows the timeline with the deploy message and the endpoints, and rolls back after a confirmation', async () => {
    const page = app.page;
    const v2 = page.locator('[data-version="2"]');
    await expect.poll(() => v2.textContent()).toMatch(/latest/);
    await expect.poll(() => v2.locator('[data-testid=version-message]').textContent()).toBe('“second release”');
    await expect.poll(() => page.textContent('[data-testid=endpoints]')).toContain(`http://${bed.servers[0].host}:8700/${MODEL}/latest/predict`);
    await app.screenshot('deployments-timeline');
    await page.getByRole('button', { name: 'Roll back: v1' }).click();
    // Nothing moves until the user confirms what the button does.
    const confirm = page.getByRole('group', { name: 'Confirm: Roll back v1' });
    await expect.poll(() => confirm.textContent()).toContain('Roll back latest from v2 to v1?');
    await confirm.getByRole('button', { name: 'Roll back' }).click();
    const aliasesOf = (number: number) => page.locator(`[data-version="${number}"] .pill.alias`).allTextContents();
    await expect.poll(() => aliasesOf(1), { timeout: 120_000 }).toContain('latest');
    await expect.poll(() => aliasesOf(2)).not.toContain('latest');
    await app.screenshot('deployments-rollback');
    // The newer version now offers to become latest again, by that name.
    await expect.poll(() => v2.getByRole('button', { name: 'Make latest: v2' }).count()).toBe(1);
  });
});
