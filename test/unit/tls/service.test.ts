import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { GroupSettings } from '../../../shared/group-state';
import type { GroupView } from '../../../shared/servers';
import { createFileKeyCipher, createSecretStore } from '../../../electron/main/services/access/secrets';
import type { Condition } from '../../../electron/main/services/monitor/detect';
import { defaultLayout } from '../../../electron/main/services/remote/layout';
import { inspectCertificate, type CertificateFacts } from '../../../electron/main/services/tls/authority';
import { createCertificateRenewal } from '../../../electron/main/services/tls/renewal';
import { createTlsService, type CertificateOutcome, type TlsDeps } from '../../../electron/main/services/tls/service';
import { openDatabase } from '../../../electron/main/services/store/database';
import { RecordingShell, runLocally } from '../support/recording-shell';

const DAY = 86_400_000;
const SERVERS = [
  { id: 1, name: 'tb1', host: '10.77.8.11' },
  { id: 2, name: 'tb2', host: '10.77.8.12' },
];

/** The group state as the fake servers hold it, and this Berth's cache of it (what the registry shows). */
function fakeGroups(groupNames: string[] = ['prod']) {
  const settings = new Map<string, GroupSettings>(groupNames.map((g) => [g, { replicas: 1, webhooks: [], tls: 'https' }]));
  const changes: string[] = [];
  const view = (name: string): GroupView => {
    const s = settings.get(name)!;
    return { id: 1, name, replicas: 1, serverIds: SERVERS.map((x) => x.id), revision: 1, changedBy: null, changedAt: null, refreshedAt: null, platform: null, platforms: [], tls: s.tls ?? 'off', listen: 'all', authority: s.authority ?? null };
  };
  return {
    settings,
    changes,
    registry: {
      get: (id: number) => SERVERS.find((s) => s.id === id)! as unknown as ReturnType<TlsDeps['registry']['get']>,
      group: (name: number | string) => view(String(name)),
      groupsOf: () => [...settings.keys()],
      groups: () => [...settings.keys()].map(view),
    },
    groups: {
      change: async (group: string, what: string, mutate: (state: { settings: GroupSettings }) => unknown) => {
        changes.push(what);
        const state = { settings: structuredClone(settings.get(group)!) };
        const result = mutate(state);
        settings.set(group, state.settings);
        return { result };
      },
    } as unknown as TlsDeps['groups'],
  };
}

/** A server's shell: the TLS scripts run for real, in a folder of the server's own below `base`; `hostname` answers what it is told. */
function serverShell(names: { current: string }, base: string, server: string) {
  return new RecordingShell([
    ['hostname', () => ({ stdout: names.current })],
    ['cert.pem', (command, stdin) => runLocally(command.replaceAll(base, join(base, server)), stdin)],
  ]);
}

function berthFolder() {
  const home = mkdtempSync(join(tmpdir(), 'berth-tls-home-'));
  const db = openDatabase(join(home, 'berth.db'));
  return createSecretStore(db, createFileKeyCipher(join(home, 'secret.key')));
}

describe('the TLS service', () => {
  let clock: Date;
  let fake: ReturnType<typeof fakeGroups>;
  let shells: Map<number, RecordingShell>;
  let names: { current: string };
  let layout: typeof defaultLayout;
  const tlsOf = (secrets = berthFolder(), actor = { holder: 'alice', machine: 'laptop' }) =>
    createTlsService({
      registry: fake.registry,
      groups: fake.groups,
      secrets,
      connection: async (id) => shells.get(id)!.connection,
      layout,
      actor: () => actor,
      now: () => clock,
    });
  /** A file of a server's gateway/tls/ folder. */
  const tlsFile = (server: string, file: string) => join(layout.berthDir, server, 'gateway/tls', file);

  beforeEach(() => {
    clock = new Date('2026-12-01T12:00:00Z');
    fake = fakeGroups();
    names = { current: 'tb\ntb.lab.example\n10.77.8.11 192.168.5.5\n' };
    layout = { ...defaultLayout, berthDir: mkdtempSync(join(tmpdir(), 'berth-tls-server-')) };
    shells = new Map(SERVERS.map((s) => [s.id, serverShell(names, layout.berthDir, s.name)]));
  });

  it('makes the group CA once, keeps its key here, and installs each server a certificate for its names', async () => {
    const secrets = berthFolder();
    const tls = tlsOf(secrets);
    const first = await tls.ensureCertificates('prod');
    expect(first.map((o) => o.ok && o.action)).toEqual(['issued', 'issued']);
    const authority = fake.settings.get('prod')!.authority!;
    expect(authority).toMatchObject({ createdBy: 'alice@laptop', createdAt: clock.toISOString() });
    expect(fake.changes).toEqual([expect.stringMatching(/^created the certificate authority \(sha256 [0-9a-f]{16}…\)$/)]);
    expect(secrets.idOf(`group-ca:prod:${authority.fingerprint}`)).not.toBeNull();
    // Only the certificate, its key and the CA certificate reach the server: never the CA key.
    const installs = [...shells.values()].flatMap((s) => s.recorded.filter((r) => r.command.includes('mktemp -d')));
    expect(installs).toHaveLength(2);
    for (const install of installs) expect(`${install.command}${install.stdin}`).not.toContain(secrets.get(secrets.idOf(`group-ca:prod:${authority.fingerprint}`)!).split('\n')[1]);
    const facts = inspectCertificate(readFileSync(tlsFile('tb2', 'cert.pem')));
    expect(facts.issuedBy(authority.certificate)).toBe(true);
    expect(facts.names).toEqual(['10.77.8.12', 'tb', 'tb.lab.example', '10.77.8.11', '192.168.5.5']);
    expect(readFileSync(tlsFile('tb2', 'ca.pem'), 'utf8')).toBe(authority.certificate);
    expect(readFileSync(tlsFile('tb1', 'key.pem'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    const again = await tls.ensureCertificates('prod');
    expect(again.map((o) => o.ok && o.action)).toEqual(['kept', 'kept']);
    expect(fake.changes).toHaveLength(1);
  });

  it('renews a certificate with fewer than 30 days left, or one that misses an address the server has now', async () => {
    const tls = tlsOf();
    await tls.ensureCertificates('prod', [1]);
    clock = new Date(clock.getTime() + 59 * DAY);
    expect(await tls.ensureCertificates('prod', [1])).toEqual([expect.objectContaining({ action: 'kept' })]);
    clock = new Date(clock.getTime() + 10 * DAY);
    const renewed = await tls.ensureCertificates('prod', [1]);
    expect(renewed).toEqual([expect.objectContaining({ action: 'issued', reason: 'its certificate expires in 21 days' })]);
    expect((renewed[0] as Extract<CertificateOutcome, { ok: true }>).notAfter).toBe(new Date(clock.getTime() + 90 * DAY).toISOString());

    names.current = 'tb\n10.77.8.11 10.99.0.7\n';
    expect(await tls.ensureCertificates('prod', [1])).toEqual([expect.objectContaining({ action: 'issued', reason: 'its certificate does not name 10.99.0.7' })]);
  });

  it('checks, but cannot issue, from a Berth that does not hold the CA key, naming the Berth that does', async () => {
    await tlsOf().ensureCertificates('prod');
    const other = tlsOf(berthFolder(), { holder: 'bob', machine: 'desk' });
    expect(other.holdsAuthority('prod')).toBe(false);
    expect((await other.requireCertificates('prod')).map((o) => o.ok && o.action)).toEqual(['kept', 'kept']);
    clock = new Date(clock.getTime() + 70 * DAY);
    expect(await other.ensureCertificates('prod', [1])).toEqual([
      expect.objectContaining({ ok: false, error: expect.stringMatching(/expires in 20 days.*made by alice@laptop at .*never leaves that Berth.*--new-authority/) }),
    ]);
    expect(fake.changes).toHaveLength(1);
  });

  it('replaces the CA on request, and with it every certificate', async () => {
    const tls = tlsOf();
    await tls.ensureCertificates('prod');
    const before = fake.settings.get('prod')!.authority!.fingerprint;
    await tls.setMode('prod', 'https', { newAuthority: true });
    expect(fake.settings.get('prod')!.authority!.fingerprint).not.toBe(before);
    const reissued = shells.get(1)!.recorded.filter((r) => r.command.includes('mktemp -d'));
    expect(reissued).toHaveLength(2);
    expect(fake.changes.at(-1)).toBe('serve HTTPS only');
  });

  it('switches to HTTPS only after every server has its certificate, and not at all when one cannot get it', async () => {
    fake.settings.get('prod')!.tls = 'off';
    shells.set(2, new RecordingShell([['hostname', { code: 255, stderr: 'Connection reset' }]]));
    const tls = tlsOf();
    await expect(tls.setMode('prod', 'https')).rejects.toMatchObject({ kind: 'RemoteCommandFailed', message: expect.stringContaining('tb2:') });
    expect(fake.settings.get('prod')!.tls).toBe('off');
    shells.set(2, serverShell(names, layout.berthDir, 'tb2'));
    expect((await tls.setMode('prod', 'https')).tls).toBe('https');
    expect(await tls.setMode('prod', 'off')).toMatchObject({ tls: 'off' });
    expect(fake.changes.at(-1)).toMatch(/serve plain HTTP too/);
  });

  it('gives a server shared by two HTTPS groups to neither: a server presents one certificate', async () => {
    fake = fakeGroups(['prod', 'dev']);
    const outcomes = await tlsOf().ensureCertificates('prod');
    expect(outcomes).toEqual(SERVERS.map((s) => expect.objectContaining({ server: s.name, ok: false, error: expect.stringContaining('also serves HTTPS for group "dev"') })));
    expect(existsSync(tlsFile('tb1', 'cert.pem'))).toBe(false);
  });
});

describe('the certificate pass', () => {
  const now = new Date('2027-02-01T00:00:00Z');
  const facts = (days: number): CertificateFacts => ({ notAfter: new Date(now.getTime() + days * DAY + 3600_000), names: [], issuedBy: () => true });

  function pass(options: { holds: boolean; outcomes?: CertificateOutcome[]; served: Record<string, CertificateFacts | Error> }) {
    const fake = fakeGroups();
    fake.settings.get('prod')!.authority = { certificate: '-----BEGIN CERTIFICATE-----', fingerprint: 'a'.repeat(64), createdBy: 'alice@laptop', createdAt: '2026-12-01T12:00:00Z' };
    const reconciled: Array<{ serverId: number; kinds: readonly string[]; conditions: Condition[] }> = [];
    const renewal = createCertificateRenewal({
      tls: { holdsAuthority: () => options.holds, ensureCertificates: async () => options.outcomes ?? [] },
      registry: fake.registry,
      alerts: { reconcile: (serverId, kinds, conditions) => (reconciled.push({ serverId, kinds: kinds as readonly string[], conditions }), { opened: [], resolved: [] }) },
      port: 8700,
      served: async (host) => {
        const answer = options.served[host];
        if (answer instanceof Error) throw answer;
        return answer;
      },
      now: () => now,
    });
    return renewal.pass().then(() => reconciled);
  }

  it('alerts for a certificate close to its end that this Berth cannot renew, and resolves the others', async () => {
    const reconciled = await pass({ holds: false, served: { '10.77.8.11': facts(10), '10.77.8.12': facts(80) } });
    expect(reconciled).toEqual([
      {
        serverId: 1,
        kinds: ['certificate_expiring'],
        conditions: [
          expect.objectContaining({
            kind: 'certificate_expiring',
            subject: 'tb1/certificate',
            severity: 'warning',
            message: expect.stringMatching(/tb1's gateway \(group prod\) expires in 10 days .*does not hold the group's CA key \(made by alice@laptop\)/),
          }),
        ],
      },
      { serverId: 2, kinds: ['certificate_expiring'], conditions: [] },
    ]);
  });

  it('says why a renewal failed, is critical in the last week, and judges no gateway that does not answer', async () => {
    const reconciled = await pass({
      holds: true,
      outcomes: [{ serverId: 1, server: 'tb1', ok: false, error: 'tb1: Permission denied' }],
      served: { '10.77.8.11': facts(3), '10.77.8.12': new Error('ECONNREFUSED') },
    });
    expect(reconciled).toEqual([
      { serverId: 1, kinds: ['certificate_expiring'], conditions: [expect.objectContaining({ severity: 'critical', message: expect.stringContaining('was not renewed: tb1: Permission denied') })] },
    ]);
  });
});
