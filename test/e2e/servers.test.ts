import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBed } from '../integration/bed';
import { buildApp, startApp, type RunningApp } from './harness';

const bed = loadBed();
// Berth's files on the servers (group state, audit) go below each server's /root for this run: a server that already
// holds a group "prod" (another test's, in /var/lib/berth) would bring it along when it is registered.
const base = `/root/.berth-test-e2e-servers-${process.pid}`;

describe('servers page in Chromium', () => {
  let app: RunningApp;
  beforeAll(async () => {
    buildApp();
    app = await startApp({ BERTH_REMOTE_DIR: `${base}/var`, BERTH_REMOTE_LIB: `${base}/lib` });
    await app.page.getByRole('button', { name: 'Servers', exact: true }).click();
  });
  afterAll(async () => {
    try {
      for (const server of bed.servers) execFileSync('ssh', ['-F', bed.sshConfig, server.name, `rm -rf ${base}`], { stdio: 'ignore', timeout: 30_000 });
    } finally {
      await app?.close();
    }
  });

  async function addServer(index: number) {
    const server = bed.servers[index];
    const page = app.page;
    await page.getByRole('button', { name: /Add (your first )?server/ }).first().click();
    await page.getByLabel('Server name').fill(server.name);
    await page.getByLabel('Address').fill(server.host);
    await page.getByLabel('Private key file').fill(bed.clientKey);
    expect(await page.getByLabel('Key passphrase', { exact: true }).getAttribute('type')).toBe('password');
    await page.getByRole('button', { name: 'Check host key' }).click();
    await expect.poll(() => page.textContent('[data-testid=host-key]')).toContain(server.hostKeyFingerprint);
    if (index === 0) await app.screenshot('servers-accept-host-key');
    await page.getByRole('button', { name: 'Accept key and add server' }).click();
    await expect.poll(() => page.textContent('[data-testid=server-list]')).toContain(server.name);
  }

  it('adds servers after showing their host key fingerprints', async () => {
    await addServer(0);
    await addServer(1);
    const row = app.page.locator('[data-server=tb1]');
    await expect.poll(() => row.textContent()).toMatch(/up.*Docker \d+/);
  });

  it('shows a refused connection clearly (nothing listening)', async () => {
    const page = app.page;
    await page.getByRole('button', { name: 'Add server' }).click();
    await page.getByLabel('Address').fill('127.0.0.1');
    await page.getByLabel('Port').fill('2');
    await page.getByRole('button', { name: 'Check host key' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/SshUnreachable.*Cannot reach/);
    await page.getByRole('button', { name: 'Dismiss' }).click();
  });

  it('makes a group of the two servers and counts them in the status bar', async () => {
    const page = app.page;
    await page.getByLabel('Group name').fill('prod');
    await page.getByRole('button', { name: 'Create group' }).click();
    // The box reflects the saved membership, so it turns checked once the server has stored it.
    for (const name of ['tb1', 'tb2']) {
      await page.getByLabel(`${name} in prod`).click();
      // A new group serves HTTPS: the first tick also makes its certificate authority and the server's certificate.
      await expect.poll(() => page.getByLabel(`${name} in prod`).isChecked(), { timeout: 60_000 }).toBe(true);
    }
    await expect.poll(() => page.locator('[data-group=prod]').textContent()).toContain('2 servers');
    await expect.poll(() => page.textContent('[data-testid=servers-status]'), { timeout: 15_000 }).toBe('2/2 servers up');
    await app.screenshot('servers-group');
  });
});
