/**
 * HTTPS at the gateways (docs/ARCHITECTURE.md, "HTTPS at the gateway"): each group has a certificate authority made
 * by an admin's Berth, whose private key stays encrypted in that Berth's secret store and whose certificate is in the
 * group state; Berth issues each server a certificate for the addresses clients reach it by and writes it, with its
 * key, to the server's root-only gateway/tls/ folder, renewing it before it expires.
 */
import { BerthError } from '../../../../shared/errors';
import type { GroupAuthority, TlsMode } from '../../../../shared/tls';
import type { SecretStore } from '../access/secrets';
import type { GroupStateService } from '../groups/service';
import { gatewayTlsDir, type ServerLayout } from '../remote/layout';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';
import {
  RENEW_WITHIN_DAYS,
  createAuthority,
  daysLeft,
  fingerprintOf,
  inspectCertificate,
  issueServerCertificate,
  type CertificateFacts,
  type KeyPairPem,
  type ServerIdentity,
} from './authority';
import { parseAddresses, tlsCommands } from './remote';

export interface TlsDeps {
  registry: Pick<ServerRegistry, 'get' | 'group' | 'groupsOf'>;
  groups: Pick<GroupStateService, 'change'>;
  secrets: Pick<SecretStore, 'put' | 'get' | 'idOf'>;
  connection(serverId: number): Promise<SshConnection>;
  layout: ServerLayout;
  actor(): { holder: string; machine: string };
  now?(): Date;
}

/** What happened to one server's certificate. */
export type CertificateOutcome =
  | { serverId: number; server: string; ok: true; action: 'kept' | 'issued'; reason: string | null; notAfter: string }
  | { serverId: number; server: string; ok: false; error: string };

const EXEC = { timeoutMs: 20_000 };

/** The group CA as this Berth has it: always its certificate, its private key only in the Berth that made it. */
interface Authority {
  record: GroupAuthority;
  privateKey: string | null;
}

/** The group CA's key in the secret store, found by the group and the CA's fingerprint (a replaced CA has another). */
const keyPurpose = (group: string, fingerprint: string) => `group-ca:${group}:${fingerprint}`;

export function createTlsService(deps: TlsDeps) {
  const now = deps.now ?? (() => new Date());
  const { registry } = deps;

  /** Whether this Berth holds the key of the group's current CA, so it can issue and renew certificates. */
  function holdsAuthority(group: string): boolean {
    const authority = registry.group(group).authority;
    return authority !== null && deps.secrets.idOf(keyPurpose(group, authority.fingerprint)) !== null;
  }

  /** The group CA; made (its key kept here) and published in the group state when the group has none, or `replace`. */
  async function authorityOf(group: string, replace = false): Promise<Authority> {
    const known = registry.group(group).authority;
    if (known && !replace) return withKey(group, known);
    const made = await createAuthority(group, now());
    const { holder, machine } = deps.actor();
    const record: GroupAuthority = { certificate: made.certificate, fingerprint: fingerprintOf(made.certificate), createdBy: `${holder}@${machine}`, createdAt: now().toISOString() };
    deps.secrets.put(keyPurpose(group, record.fingerprint), made.privateKey);
    const commit = await deps.groups.change(group, `${replace ? 'replaced' : 'created'} the certificate authority (sha256 ${record.fingerprint.slice(0, 16)}…)`, (state) => {
      // Another Berth may have made one since this Berth last read the group: the servers' one stands.
      if (state.settings.authority && !replace) return state.settings.authority;
      state.settings.authority = record;
      return record;
    });
    return withKey(group, commit.result);
  }

  function withKey(group: string, record: GroupAuthority): Authority {
    const id = deps.secrets.idOf(keyPurpose(group, record.fingerprint));
    return { record, privateKey: id === null ? null : deps.secrets.get(id) };
  }

  /** A certificate is needed, and this Berth cannot sign it. */
  function cannotIssue(group: string, record: GroupAuthority, reason: string): BerthError {
    return new BerthError(
      'Unauthorized',
      `needs a new certificate (${reason}), but the certificate authority of group "${group}" was made by ${record.createdBy} at ${record.createdAt} and its private key never leaves that Berth: ` +
        `issue the certificates from there, or make a new authority here (\`berth groups tls ${group} https --new-authority\`; every client must then trust the new CA)`,
    );
  }

  /** What a server's certificate names: the address Berth reaches it by, and the names and addresses it reports. */
  async function identityOf(serverId: number, ssh: SshConnection): Promise<ServerIdentity> {
    const row = registry.get(serverId);
    const learned = parseAddresses(await ssh.run(tlsCommands.addresses(), EXEC));
    return { name: row.name, addresses: [...new Set([row.host.toLowerCase(), ...learned])] };
  }

  /** Why the installed certificate must be replaced, or null when it still serves. */
  function replacementReason(installed: CertificateFacts | null, authority: GroupAuthority, identity: ServerIdentity): string | null {
    if (!installed) return 'it had none';
    if (!installed.issuedBy(authority.certificate)) return 'its certificate was issued by another authority';
    const left = daysLeft(installed, now());
    if (left < RENEW_WITHIN_DAYS) return `its certificate expires in ${left} days`;
    const missing = identity.addresses.filter((a) => !installed.names.includes(a));
    if (missing.length) return `its certificate does not name ${missing.join(', ')}`;
    return null;
  }

  /**
   * A server presents one certificate, so it serves HTTPS for one group: a server that another HTTPS group shares
   * is refused here rather than have two groups' Berths replace each other's certificate on every pass.
   */
  function refuseSharedServer(group: string, serverId: number): void {
    const other = registry.groupsOf(serverId).find((g) => g !== group && registry.group(g).tls === 'https');
    if (other) {
      throw new BerthError(
        'Conflict',
        `${registry.get(serverId).name} also serves HTTPS for group "${other}", and a server presents one certificate: switch one of the groups to HTTP (\`berth groups tls <group> off\`) or give them separate servers`,
      );
    }
  }

  async function ensureOn(group: string, authority: Authority, serverId: number): Promise<CertificateOutcome> {
    const server = registry.get(serverId).name;
    try {
      refuseSharedServer(group, serverId);
      const ssh = await deps.connection(serverId);
      const dir = gatewayTlsDir(deps.layout);
      const identity = await identityOf(serverId, ssh);
      const text = await ssh.run(tlsCommands.readCertificate(dir), EXEC);
      const installed = text.includes('BEGIN CERTIFICATE') ? inspectCertificate(text) : null;
      const reason = replacementReason(installed, authority.record, identity);
      if (!reason) return { serverId, server, ok: true, action: 'kept', reason, notAfter: installed!.notAfter.toISOString() };
      if (authority.privateKey === null) throw cannotIssue(group, authority.record, reason);
      const signer: KeyPairPem = { certificate: authority.record.certificate, privateKey: authority.privateKey };
      const issued = await issueServerCertificate(signer, identity, now());
      await ssh.run(tlsCommands.install(dir, issued.certificate, signer.certificate), { ...EXEC, stdin: issued.privateKey });
      return { serverId, server, ok: true, action: 'issued', reason, notAfter: inspectCertificate(issued.certificate).notAfter.toISOString() };
    } catch (err) {
      return { serverId, server, ok: false, error: BerthError.from(err).message };
    }
  }

  /**
   * Issues or renews the certificate of every server (default: the group's) that needs one; reports each server. A
   * Berth without the CA key only checks: its deploys go on while every server's certificate still serves.
   */
  async function ensureCertificates(group: string, serverIds = registry.group(group).serverIds): Promise<CertificateOutcome[]> {
    const authority = await authorityOf(group);
    return Promise.all(serverIds.map((id) => ensureOn(group, authority, id)));
  }

  /** As ensureCertificates, for callers that cannot go on without every certificate (an HTTPS-only gateway without one serves nothing). */
  async function requireCertificates(group: string, serverIds?: number[]): Promise<CertificateOutcome[]> {
    const outcomes = await ensureCertificates(group, serverIds);
    const failed = outcomes.filter((o): o is Extract<CertificateOutcome, { ok: false }> => !o.ok);
    if (failed.length) {
      throw new BerthError('RemoteCommandFailed', `The HTTPS certificate of group "${group}" could not be installed on ${failed.map((f) => `${f.server}: ${f.error}`).join('; ')}`, { outcomes });
    }
    return outcomes;
  }

  /**
   * Switches the group's gateways to HTTPS only (every server gets its certificate first, so none refuses plain HTTP
   * without being able to serve HTTPS), or back to serving plain HTTP too. `newAuthority` replaces the group CA.
   */
  async function setMode(group: string, mode: TlsMode, options: { newAuthority?: boolean } = {}) {
    if (mode === 'https') {
      if (options.newAuthority) await authorityOf(group, true);
      await requireCertificates(group);
    }
    const what = mode === 'https' ? 'serve HTTPS only' : 'serve plain HTTP too (API keys cross the network unencrypted)';
    await deps.groups.change(group, what, (state) => void (state.settings.tls = mode));
    return registry.group(group);
  }

  return { holdsAuthority, ensureCertificates, requireCertificates, setMode };
}
export type TlsService = ReturnType<typeof createTlsService>;
