/**
 * The certificate pass, while Berth runs (and after every deploy, through the gateway manager): a Berth that holds
 * a group's CA key renews the certificates that have fewer than 30 days left; every Berth then reads what each
 * gateway presents, as a client would, and raises a `certificate_expiring` alert for one that is still that close
 * to its end (whoever can renew it has not), resolved once a renewed certificate is served.
 */
import type { GroupView } from '../../../../shared/servers';
import type { AlertCenter } from '../monitor/center';
import type { Condition } from '../monitor/detect';
import type { ServerRegistry } from '../servers/registry';
import { RENEW_WITHIN_DAYS, daysLeft, type CertificateFacts } from './authority';
import { servedCertificate } from './probe';
import type { CertificateOutcome, TlsService } from './service';

export interface RenewalDeps {
  tls: Pick<TlsService, 'holdsAuthority' | 'ensureCertificates'>;
  registry: Pick<ServerRegistry, 'get' | 'groups'>;
  alerts: Pick<AlertCenter, 'reconcile'>;
  /** The gateways' port. */
  port: number;
  /** Reads a gateway's certificate (tests replace it). */
  served?: (host: string, port: number) => Promise<CertificateFacts>;
  now?(): Date;
  /** Default: twice a day; the renewal window is 30 days, so a laptop that is open now and then suffices. */
  intervalMs?: number;
}

const KIND = ['certificate_expiring'] as const;
/** Fewer days than this left: the alert is critical. */
const CRITICAL_DAYS = 7;

export function createCertificateRenewal(deps: RenewalDeps) {
  const now = deps.now ?? (() => new Date());
  const served = deps.served ?? servedCertificate;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let running: Promise<void> | null = null;

  /** Why this Berth could not renew a server's certificate, for the alert's message. */
  function notRenewed(group: GroupView, outcome: CertificateOutcome | undefined): string {
    if (!deps.tls.holdsAuthority(group.name)) return `this Berth does not hold the group's CA key (made by ${group.authority?.createdBy ?? 'no one yet'}): renew from that Berth`;
    if (outcome && !outcome.ok) return outcome.error;
    return 'the gateway still presents the old certificate';
  }

  function expiring(group: GroupView, server: string, facts: CertificateFacts, outcome: CertificateOutcome | undefined): Condition[] {
    const left = daysLeft(facts, now());
    if (left >= RENEW_WITHIN_DAYS) return [];
    return [
      {
        kind: 'certificate_expiring',
        subject: `${server}/certificate`,
        severity: left < CRITICAL_DAYS ? 'critical' : 'warning',
        message: `The HTTPS certificate of ${server}'s gateway (group ${group.name}) ${left < 0 ? 'has expired' : `expires in ${left} days`} (${facts.notAfter.toISOString()}) and was not renewed: ${notRenewed(group, outcome)}`,
        detail: { group: group.name, notAfter: facts.notAfter.toISOString(), daysLeft: left },
      },
    ];
  }

  async function passOverGroup(group: GroupView): Promise<void> {
    const outcomes = deps.tls.holdsAuthority(group.name) ? await deps.tls.ensureCertificates(group.name).catch(() => []) : [];
    await Promise.all(
      group.serverIds.map(async (serverId) => {
        const server = deps.registry.get(serverId);
        // A gateway that does not answer says nothing of its certificate: its alert (if any) stays as it was.
        const facts = await served(server.host, deps.port).catch(() => null);
        if (facts) deps.alerts.reconcile(serverId, KIND, expiring(group, server.name, facts, outcomes.find((o) => o.serverId === serverId)));
      }),
    );
  }

  /** One pass over every HTTPS group; a pass still running is joined, not started twice. */
  function pass(): Promise<void> {
    running ??= (async () => {
      for (const group of deps.registry.groups().filter((g) => g.tls === 'https')) await passOverGroup(group);
    })().finally(() => (running = null));
    return running;
  }

  return {
    pass,
    /** Starts the passes (once; never again after stop, which may come first when Berth closes during its attach). */
    start() {
      if (stopped || timer) return;
      const run = () => void pass().catch((err) => console.error(`The certificate pass failed: ${err instanceof Error ? err.message : err}`));
      run();
      timer = setInterval(run, deps.intervalMs ?? 12 * 3_600_000);
      timer.unref();
    },
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
export type CertificateRenewal = ReturnType<typeof createCertificateRenewal>;
