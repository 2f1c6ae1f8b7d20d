import { parseArgs } from 'node:util';
import type { AuditEntryView, AuditVerification } from '../../../../../shared/access';
import { BerthError } from '../../../../../shared/errors';
import type { AuditService } from './service';

export const auditUsage = `Usage: berth audit [--verify] [--actor WHO] [--action WHAT] [--target TEXT] [--since ISO] [--until ISO] [--limit N] [--json]

  Lists the audit log, newest first. --verify checks the hash chain in Berth's database and in every server's
  /var/lib/berth/audit/audit.jsonl and exits 1 if any was edited, cut or reordered.`;

/**
 * `berth audit …` for the CLI (electron/main/cli.ts calls this): returns what to print and the exit code.
 */
export async function auditCommand(audit: AuditService, argv: string[]): Promise<{ output: string; code: number }> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        verify: { type: 'boolean' },
        json: { type: 'boolean' },
        actor: { type: 'string' },
        action: { type: 'string' },
        target: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new BerthError('ValidationError', `${(err as Error).message}\n\n${auditUsage}`);
  }
  if (values.help) return { output: auditUsage, code: 0 };

  if (values.verify) {
    const result = await audit.verify();
    return { output: values.json ? JSON.stringify(result, null, 2) : formatVerification(result), code: result.ok ? 0 : 1 };
  }
  const entries = audit.list({
    actor: values.actor as string | undefined,
    action: values.action as string | undefined,
    target: values.target as string | undefined,
    since: values.since as string | undefined,
    until: values.until as string | undefined,
    limit: values.limit ? Number(values.limit) : undefined,
  });
  return { output: values.json ? JSON.stringify(entries, null, 2) : formatEntries(entries), code: 0 };
}

export function formatEntries(entries: AuditEntryView[]): string {
  if (!entries.length) return 'No audit entries match.';
  return entries
    .map((e) => {
      const servers = e.deliveries.map((d) => `${d.server}${d.state === 'delivered' ? '' : `(${d.state})`}`).join(',');
      return [`#${e.seq}`, e.at, e.actor + '@' + e.machine, e.action, e.target, e.result, servers || '-'].join('\t');
    })
    .join('\n');
}

export function formatVerification(result: AuditVerification): string {
  const lines: string[] = [];
  const describe = (where: string, check: { ok: boolean; entries: number; breaks: { position: number; reason: string }[]; error?: string }) => {
    if (check.error) lines.push(`${where}: not checked: ${check.error}`);
    else if (check.ok) lines.push(`${where}: chain verified (${check.entries} entries)`);
    else {
      lines.push(`${where}: TAMPERED at entry ${check.breaks[0].position} (${check.entries} entries)`);
      for (const b of check.breaks) lines.push(`  - ${b.reason}`);
    }
  };
  describe('Berth database', result.local);
  for (const server of result.servers) describe(server.server, server);
  return lines.join('\n');
}
