import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../electron/main/app';
import { addServerInput, loadBed } from '../integration/bed';
import { buildApp, startApp, type RunningApp } from './harness';

const bed = loadBed();
const GROUP = 'team';
// This run's group state lives below each server's /root, apart from what other tests keep in /var/lib/berth.
const base = `/root/.berth-test-e2e-groups-${process.pid}`;
const remoteEnv = { BERTH_REMOTE_DIR: `${base}/var`, BERTH_REMOTE_LIB: `${base}/lib` };
const onServer = (name: string, command: string) => execFileSync('ssh', ['-F', bed.sshConfig, name, command]).toString();

/** A second Berth (a teammate, or a CI runner): its own data folder, the same servers. */
async function withTeammate(work: (berth: ReturnType<typeof createBerth>) => Promise<void>): Promise<void> {
  const berth = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-e2e-groups-b-')), mode: 'cli', version: 'e2e' });
  try {
    await berth.ready;
    await work(berth);
  } finally {
    berth.close();
  }
}

describe('group state in Chromium', () => {
  let app: RunningApp;
  const saved = { ...process.env };

  beforeAll(async () => {
    Object.assign(process.env, remoteEnv);
    buildApp();
    // Data folder A: the three bed servers registered, tb1 and tb2 in group "team" (not yet published to them).
    const home = mkdtempSync(join(tmpdir(), 'berth-e2e-groups-a-'));
    const berth = createBerth({ home, mode: 'cli', version: 'e2e' });
    try {
      await berth.ready;
      const ids: number[] = [];
      for (const server of bed.servers) ids.push((await berth.services.servers.add(addServerInput(bed, server))).id);
      const group = berth.services.registry.createGroup(GROUP, 1);
      berth.services.registry.updateGroup(group.id, { serverIds: ids.slice(0, 2) });
    } finally {
      berth.close();
    }
    app = await startApp(remoteEnv, home);
    await app.page.getByRole('button', { name: 'Servers', exact: true }).click();
  }, 600_000);

  afterAll(async () => {
    process.env = saved;
    try {
      for (const server of bed.servers) execFileSync('ssh', ['-F', bed.sshConfig, server.name, `rm -rf ${base}`], { stdio: 'ignore' });
    } finally {
      await app?.close();
    }
  });

  it('publishes the group on a change and shows its revision in the status bar', async () => {
    const page = app.page;
    const status = page.getByTestId('group-sync');
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(new RegExp(`^${GROUP} · not published yet · synced \\d+ s ago$`));
    await page.getByLabel(`tb3 in ${GROUP}`).click();
    await expect.poll(() => page.getByLabel(`tb3 in ${GROUP}`).isChecked(), { timeout: 60_000 }).toBe(true);
    const state = page.locator(`[data-group-state=${GROUP}]`);
    await expect.poll(() => state.getByTestId('group-revision').textContent()).toMatch(/^Revision 1 · changed by \S+@\S+ · /);
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(new RegExp(`^${GROUP} · rev 1 · synced \\d+ s ago$`));
  });

  it('follows a change another Berth made, and lists every server’s copy as current', async () => {
    const page = app.page;
    await withTeammate(async (b) => {
      for (const server of bed.servers) await b.services.servers.add(addServerInput(bed, server));
      const attached = await b.services.groups.attach();
      expect(attached.problems).toEqual([]);
      await b.services.groups.updateGroup(GROUP, { replicas: 3 });
    });

    const status = page.getByTestId('group-sync');
    // Within one poll (10 s) the app sees revision 2 and the Servers page reloads the group without a click.
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(new RegExp(`^${GROUP} · rev 2 · synced \\d+ s ago$`));
    expect(await status.getAttribute('data-state')).toBe('ok');
    await expect.poll(() => page.locator(`[data-group=${GROUP}]`).textContent(), { timeout: 15_000 }).toContain('3 replicas per server');
    const state = page.locator(`[data-group-state=${GROUP}]`);
    await expect.poll(() => state.getByTestId('group-revision').textContent()).toMatch(/^Revision 2 · changed by \S+@\S+ · /);

    await page.getByRole('button', { name: `Check copies of ${GROUP}` }).click();
    const copies = state.getByTestId('group-copies');
    await expect.poll(() => copies.locator('li').count(), { timeout: 30_000 }).toBe(3);
    for (const server of bed.servers) {
      const copy = copies.locator(`[data-server=${server.name}]`);
      await expect.poll(() => copy.getAttribute('data-copy-state')).toBe('current');
      expect(await copy.textContent()).toBe(`✓ ${server.name}: current · revision 2`);
    }
    expect(await page.getByRole('button', { name: `Repair copies of ${GROUP}` }).count()).toBe(0);
    await app.screenshot('servers-group-state');
  });

  it('warns in the status bar when a copy is damaged, and repairs it', async () => {
    const page = app.page;
    onServer('tb3', `printf 'not json\\n' > ${base}/var/groups/${GROUP}/state.json`);
    await page.getByRole('button', { name: `Check copies of ${GROUP}` }).click();
    const copy = page.locator(`[data-group-state=${GROUP}] [data-testid=group-copies] [data-server=tb3]`);
    await expect.poll(() => copy.getAttribute('data-copy-state'), { timeout: 30_000 }).toBe('damaged');
    const status = page.getByTestId('group-sync');
    await expect.poll(() => status.getAttribute('data-state')).toBe('warning');
    expect(await status.textContent()).toMatch(new RegExp(`^⚠ ${GROUP}: tb3 damaged \\(.+\\)$`));

    await page.getByRole('button', { name: `Repair copies of ${GROUP}` }).click();
    await expect.poll(() => copy.getAttribute('data-copy-state'), { timeout: 60_000 }).toBe('current');
    await expect.poll(() => status.getAttribute('data-state')).toBe('ok');
    await expect.poll(() => status.textContent(), { timeout: 15_000 }).toMatch(new RegExp(`^${GROUP} · rev 3 · synced \\d+ s ago$`));
    await page.getByRole('button', { name: 'Deployments', exact: true }).click();
    await page.getByTestId('group-sync').click();
    await expect.poll(() => page.locator('main').getAttribute('data-page')).toBe('servers');
  });
});
