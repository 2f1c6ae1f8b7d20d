import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBed } from '../integration/bed';
import { buildApp, startApp, type RunningApp } from './harness';

const bed = loadBed();
const server = bed.servers[0];
const GROUP = 'access';
// Berth's server-side files for this run go below tb1's /root, apart from what other tests do in /var/lib/berth.
const base = `/root/.berth-test-e2e-access-${process.pid}`;
const rootSsh = (command: string) => execFileSync('ssh', ['-F', bed.sshConfig, server.name, command]).toString();

const keyDir = mkdtempSync(join(tmpdir(), 'berth-e2e-member-'));
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vera@laptop', '-f', join(keyDir, 'id_ed25519')]);
const veraPublicKey = readFileSync(join(keyDir, 'id_ed25519.pub'), 'utf8').trim();
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ada@laptop', '-f', join(keyDir, 'ada_ed25519')]);
const adaPublicKey = readFileSync(join(keyDir, 'ada_ed25519.pub'), 'utf8').trim();
const asVera = (command: string) =>
  spawnSync(
    'ssh',
    ['-F', '/dev/null', '-i', join(keyDir, 'id_ed25519'), '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${bed.knownHosts}`, '-o', 'BatchMode=yes', `root@${server.host}`, command],
    { encoding: 'utf8', timeout: 30_000 },
  );

describe('access page in Chromium', () => {
  let app: RunningApp;
  beforeAll(async () => {
    buildApp();
    app = await startApp({ BERTH_REMOTE_DIR: `${base}/var`, BERTH_REMOTE_LIB: `${base}/lib` });
  });

  /**
   * What a user does first now that keys and members live in a group's state on its servers: register tb1 on the
   * Servers page, create a group and tick tb1 in it (which publishes the group's first revisions to tb1).
   */
  async function addServerInGroup() {
    const page = app.page;
    await page.getByRole('button', { name: 'Servers', exact: true }).click();
    await page.getByRole('button', { name: /Add (your first )?server/ }).first().click();
    await page.getByLabel('Server name').fill(server.name);
    await page.getByLabel('Address').fill(server.host);
    await page.getByLabel('Private key file').fill(bed.clientKey);
    await page.getByRole('button', { name: 'Check host key' }).click();
    await expect.poll(() => page.textContent('[data-testid=host-key]')).toContain(server.hostKeyFingerprint);
    await page.getByRole('button', { name: 'Accept key and add server' }).click();
    await expect.poll(() => page.textContent('[data-testid=server-list]')).toContain(server.name);

    await page.getByLabel('Group name').fill(GROUP);
    await page.getByRole('button', { name: 'Create group' }).click();
    const member = page.getByLabel(`${server.name} in ${GROUP}`);
    await expect.poll(() => member.count()).toBe(1);
    await member.click();
    await expect.poll(() => member.isChecked(), { timeout: 60_000 }).toBe(true);
    // Revision 1 makes tb1 a member; a new group serves HTTPS, so revision 2 publishes its certificate authority.
    await expect.poll(() => page.locator(`[data-group-state=${GROUP}]`).getByTestId('group-revision').textContent(), { timeout: 30_000 }).toMatch(/^Revision 2 · /);
    await page.getByRole('button', { name: 'Access', exact: true }).click();
  }
  afterAll(async () => {
    try {
      rootSsh(`rm -rf ${base}; sed -i '/berth-member:/d; /^# berth:/d' /root/.ssh/authorized_keys`);
    } finally {
      await app?.close();
    }
  });

  let secret = '';
  it('registers tb1 and puts it in a group first: keys and members are changes of a group state on its servers', async () => {
    await addServerInGroup();
  });

  it('creates a key and shows its secret exactly once, with a warning and a copy button', async () => {
    const page = app.page;
    await page.getByLabel('Key name').fill('billing-service');
    await page.getByLabel('Key scope').selectOption('all');
    await page.getByLabel('Key expiry').selectOption('90d');
    await page.getByRole('button', { name: 'Create key' }).click();
    const reveal = page.getByTestId('secret-reveal');
    await expect.poll(() => reveal.isVisible()).toBe(true);
    secret = (await page.getByTestId('secret').textContent())!.trim();
    expect(secret).toMatch(/^brt_[0-9A-Za-z]{40}$/);
    expect(await reveal.textContent()).toContain('it cannot show it again');
    expect(await reveal.getByRole('button', { name: 'Copy' }).isVisible()).toBe(true);
    await app.screenshot('access-key-created');
    await page.getByRole('button', { name: 'I have stored the key' }).click();
    await expect.poll(() => reveal.count()).toBe(0);
    const row = page.locator('[data-testid=key-list] tr', { hasText: 'billing-service' });
    await expect.poll(() => row.textContent()).toMatch(new RegExp(`${GROUP}.*All models.*active`));
    expect(await page.content()).not.toContain(secret);
  });

  it('revokes the key after a confirmation', async () => {
    const page = app.page;
    await page.getByRole('button', { name: 'Revoke billing-service' }).click();
    await page.getByRole('button', { name: 'Confirm revoke' }).click();
    const row = page.locator('[data-testid=key-list] tr', { hasText: 'billing-service' });
    await expect.poll(() => row.locator('.pill').textContent()).toBe('revoked');
    await app.screenshot('access-keys');
  });

  it('adds a member with a role and pushes the key to the server, where the role is enforced', async () => {
    const page = app.page;
    await page.getByRole('tab', { name: 'Team' }).click();
    await page.getByLabel('Member name').fill('Vera Viewer');
    await page.getByLabel('Member role').selectOption('viewer');
    await page.getByLabel('SSH public key').fill(veraPublicKey);
    await page.getByRole('button', { name: 'Add and push to every server' }).click();
    await expect.poll(() => page.locator('[data-testid=member-list]').textContent(), { timeout: 30_000 }).toContain('Vera Viewer');
    await expect.poll(() => page.getByTestId('push-report').locator(`[data-server=${server.name}]`).textContent()).toBe(`✓ ${server.name}`);
    expect(await page.getByLabel('Role of Vera Viewer').inputValue()).toBe('viewer');
    await app.screenshot('access-team');

    const whoami = asVera('whoami');
    expect(whoami.status, whoami.stderr).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ role: 'viewer' });
    const refused = asVera('docker ps');
    expect(refused.status).toBe(126);
    expect(refused.stderr).toMatch(/^berth: role viewer may not run 'docker ps'/);
  });

  it('shows the audit log with a verified chain, and where it breaks once a server copy is edited', async () => {
    const page = app.page;
    await page.getByRole('tab', { name: 'Audit log' }).click();
    const list = page.getByTestId('audit-list');
    await expect.poll(() => list.locator('tbody tr').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(6);
    const actions = await list.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    expect(actions).toEqual(['member.add', 'key.revoke', 'key.create', 'group.update', 'group.create', 'server.add']);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect.poll(() => page.getByTestId('chain-banner').textContent(), { timeout: 15_000 }).toMatch(/✓ Chain verified.*Berth’s database: 6 entries, intact.*tb1: 6 entries, intact/);
    await app.screenshot('access-audit');

    await page.getByLabel('What').selectOption('key');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => list.locator('tbody tr').count()).toBe(2);

    rootSsh(`sed -i '1s/"target":"tb1"/"target":"tb9"/' ${base}/var/audit/audit.jsonl`);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect.poll(() => page.getByTestId('chain-banner').textContent(), { timeout: 15_000 }).toMatch(/✗ Tampered: tb1 at entry 1/);
    expect(await page.getByTestId('chain-banner').textContent()).toContain('entry 1 was edited: its content does not match its hash');
    await app.screenshot('access-audit-tampered');
  });

  it('offboards the member from the Team tab: the server refuses the key', async () => {
    const page = app.page;
    await page.getByRole('tab', { name: 'Team' }).click();
    await page.getByRole('button', { name: 'Offboard Vera Viewer' }).click();
    await page.getByRole('button', { name: 'Confirm offboarding' }).click();
    await expect.poll(() => page.locator('[data-testid=member-list]').count(), { timeout: 30_000 }).toBe(0);
    const denied = asVera('whoami');
    expect(denied.status).toBe(255);
    expect(denied.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it('limits a deployer to some models from the Team tab; the server enforces the scope', async () => {
    const page = app.page;
    await page.getByLabel('Member name').fill('Vera Deployer');
    await page.getByLabel('Member role').selectOption('deployer');
    await page.getByLabel('Deployer models').fill('iris, churn');
    await page.getByLabel('SSH public key').fill(veraPublicKey);
    await page.getByRole('button', { name: 'Add and push to every server' }).click();
    await expect.poll(() => page.getByLabel('Models of Vera Deployer').inputValue(), { timeout: 30_000 }).toBe('churn, iris');
    await expect.poll(() => JSON.parse(asVera('whoami').stdout || '{}').groups?.[GROUP]).toEqual({ role: 'deployer', models: ['churn', 'iris'] });
    expect(asVera('lock other 60').stderr).toMatch(/^berth: role deployer on model other is needed/);

    await page.getByLabel('Models of Vera Deployer').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => JSON.parse(asVera('whoami').stdout || '{}').groups?.[GROUP]?.models ?? null, { timeout: 30_000 }).toBeNull();
  });

  it('the claiming admin becomes a member and switches to their own key: the root key is no longer needed', async () => {
    const page = app.page;
    await expect.poll(() => page.getByTestId('your-rights').textContent()).toMatch(/full shell \(root or sudo login\).* on tb1/);
    await page.getByLabel('Member name').fill('Ada Admin');
    await page.getByLabel('Member role').selectOption('admin');
    await page.getByLabel('SSH public key').fill(adaPublicKey);
    await page.getByRole('button', { name: 'Add and push to every server' }).click();
    await expect.poll(() => page.locator('[data-testid=member-list]').textContent(), { timeout: 30_000 }).toContain('Ada Admin');

    await page.getByRole('button', { name: 'Servers', exact: true }).click();
    await page.getByLabel('Member private key').fill(join(keyDir, 'ada_ed25519'));
    await page.getByRole('button', { name: 'Use this key' }).click();
    const status = page.getByTestId('switch-message');
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(/Berth now logs in to tb1 as Ada Admin \(admin\).*root key this data folder used is no longer needed/);
    await expect.poll(() => page.locator(`[data-server=${server.name}]`).getByTestId('login').textContent()).toBe(`as Ada Admin: admin in ${GROUP}`);
    await app.screenshot('servers-member-login');

    // Every action now goes through berth-shell as Ada: the team still works, and the Access page says who acts.
    await page.getByRole('button', { name: 'Access', exact: true }).click();
    await expect.poll(() => page.getByTestId('your-rights').textContent()).toMatch(new RegExp(`Ada Admin, admin in ${GROUP} on tb1`));
    await page.getByRole('tab', { name: 'Team' }).click();
    await page.getByRole('button', { name: 'Offboard Vera Deployer' }).click();
    await page.getByRole('button', { name: 'Confirm offboarding' }).click();
    await expect.poll(() => page.locator('[data-testid=member-list]').textContent(), { timeout: 30_000 }).not.toContain('Vera Deployer');
    expect(asVera('whoami').status).toBe(255);
  });
});
