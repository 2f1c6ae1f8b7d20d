/**
 * Access control composed for app.ts: the audit log, API keys, team members and lock visibility, plus the
 * contract handlers for them and the team installer the group-state service runs on each server.
 */
import type { KeyUsage } from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import { platformOfArch } from '../../../../shared/platform';
import type { StateMember } from '../../../../shared/group-state';
import type { CallHandlers } from '../../rpc/dispatcher';
import { currentActor } from '../groups/actor';
import type { ShellBinary } from '../gateway/local';
import type { GroupStateService } from '../groups/service';
import type { ServerLayout } from '../remote/layout';
import { readServerFacts } from '../servers/facts';
import type { ServersService } from '../servers/service';
import type { Db } from '../store/database';
import type { SshConnection } from '../transport/ssh';
import { createAuditService, type AuditService } from './audit/service';
import { usageFromInferenceLog } from './keys';
import { installScripts, pushAuthorizedKeys } from './remote';
import { createAccessService, type AccessService } from './service';

export interface AccessModuleDeps {
  db: Db;
  servers: Pick<ServersService, 'connection' | 'registry'> & { invalidate?: (id: number) => void };
  layout: ServerLayout;
  /** The group state on the servers, which every key, public-flag and member change goes through. */
  groups: Pick<GroupStateService, 'change' | 'revoke'>;
  usage?: () => KeyUsage[];
  actor?: () => { actor: string; machine: string };
}

/**
 * What the group-state service runs on a server after deriving its team (the members of all its groups): installs
 * berth-shell, built for the server's own platform, then rewrites Berth's block of authorized_keys with exactly those members.
 */
export function teamInstaller(layout: ServerLayout, shellBinary: (platform: string) => Promise<ShellBinary>) {
  return async (ssh: SshConnection, members: StateMember[]): Promise<void> => {
    const { arch } = await readServerFacts(ssh);
    const platform = platformOfArch(arch);
    if (!platform) throw new BerthError('RemoteCommandFailed', `Docker on ${ssh.target.host} does not say its architecture, so Berth cannot choose the berth-shell to install there`);
    await installScripts(ssh, layout, await shellBinary(platform));
    // This computer takes no logins: a member's key there would open its user's own account to the team.
    if (ssh.isLocal) return;
    await pushAuthorizedKeys(
      ssh,
      layout,
      members.map((m) => ({ id: m.id, role: m.role, publicKey: m.publicKey })),
    );
  };
}

/** Connections for access work fail fast: one attempt, so an unreachable server costs seconds, not a minute. */
const CONNECT = { attempts: 1, readyTimeoutMs: 6000 };

export function createAccessModule(deps: AccessModuleDeps): { access: AccessService; audit: AuditService } {
  const actor = deps.actor ?? (() => ({ actor: currentActor().holder, machine: currentActor().machine }));
  const servers = () => deps.servers.registry.list().map((s) => ({ id: s.id, name: s.name }));
  const connection = (id: number) => deps.servers.connection(id, CONNECT);
  const audit = createAuditService({ db: deps.db, servers, connection, invalidate: deps.servers.invalidate, layout: deps.layout, actor });
  const access = createAccessService({
    db: deps.db,
    audit,
    servers,
    connection,
    layout: deps.layout,
    actor: () => actor().actor,
    groups: deps.groups,
    // Request counts come from the logs service's inference log when it exists.
    usage: deps.usage ?? (() => usageFromInferenceLog(deps.db)),
  });
  return { access, audit };
}

type AccessCallName =
  | 'access.keys'
  | 'access.createKey'
  | 'access.revokeKey'
  | 'access.models'
  | 'access.setPublic'
  | 'access.members'
  | 'access.addMember'
  | 'access.setRole'
  | 'access.removeMember'
  | 'access.push'
  | 'access.locks'
  | 'access.breakLock'
  | 'audit.list'
  | 'audit.verify';

export function accessCalls(access: AccessService, audit: AuditService): Pick<CallHandlers, AccessCallName> {
  return {
    'access.keys': () => access.listKeys(),
    'access.createKey': (input) => access.createKey(input),
    'access.revokeKey': ({ id }) => access.revokeKey(id),
    'access.models': () => access.models(),
    'access.setPublic': ({ model, public: isPublic }) => access.setPublic(model, isPublic),
    'access.members': () => access.listMembers(),
    'access.addMember': (input) => access.addMember(input),
    'access.setRole': ({ id, role, models }) => access.setRole(id, role, models ?? null),
    'access.removeMember': ({ id, withOwned }) => access.removeMember(id, { withOwned }),
    'access.push': () => access.push(),
    'access.locks': () => access.locks(),
    'access.breakLock': ({ model }) => access.breakLock(model),
    'audit.list': (filter) => audit.list(filter),
    'audit.verify': () => audit.verify(),
  };
}

/**
 * The deploy orchestrator's `audit` dependency (services/deploy/orchestrator.ts AuditRecorder): its `detail`
 * becomes the entry's details.
 */
export function auditRecorderFor(audit: AuditService) {
  return (entry: { action: string; target: string; result: 'ok' | 'failed'; detail?: unknown }): Promise<void> =>
    audit
      .record({
        action: entry.action,
        target: entry.target,
        result: entry.result,
        details: entry.detail === undefined ? undefined : isRecord(entry.detail) ? entry.detail : { detail: entry.detail },
      })
      .then(() => undefined);
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export { auditCommand } from './audit/cli';
