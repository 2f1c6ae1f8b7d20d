import type {
  AddMember,
  ApiKeyView,
  BreakLockReport,
  CreateKey,
  CreatedKey,
  KeyUsage,
  LocksReport,
  MemberChange,
  MemberView,
  PublishReport,
  PushReport,
  Role,
} from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';
import type { SshConnection } from '../transport/ssh';
import type { AuditService } from './audit/service';
import { createKeyStore } from './keys';
import type { ServerLayout } from './layout';
import { createMemberStore } from './members';
import { breakLock, installScripts, listLocks, pushAuthorizedKeys } from './remote';

export interface AccessServer {
  id: number;
  name: string;
}

export interface AccessDeps {
  db: Db;
  audit: AuditService;
  servers: () => AccessServer[];
  connection: (serverId: number) => Promise<SshConnection>;
  layout: ServerLayout;
  /** The OS user (or member) acting through this Berth. */
  actor: () => string;
  /**
   * Recomputes routes.json for every server and reports per server; provided by the deploy orchestrator, which
   * owns routes.json. Keys and public flags change in SQLite first, then this makes the gateways see it.
   */
  publish?: () => Promise<PublishReport>;
  /** Live per-key request counts, e.g. from the logs service. */
  usage?: () => KeyUsage[];
  now?: () => Date;
}

const errorText = (err: unknown) => BerthError.from(err).message;

/** API keys, team members enforced on the servers, deploy lock visibility; every change audited. */
export function createAccessService(deps: AccessDeps) {
  const now = deps.now ?? (() => new Date());
  const keys = createKeyStore({ db: deps.db, now, usage: deps.usage });
  const members = createMemberStore(deps.db, now);
  let publisher = deps.publish;

  async function publish(): Promise<PublishReport> {
    if (!publisher) return { servers: [], note: 'routes.json was not republished: no deploy publisher is wired into this Berth yet' };
    try {
      return await publisher();
    } catch (err) {
      return { servers: [], note: `routes.json could not be republished: ${errorText(err)}` };
    }
  }
  const publishSummary = (report: PublishReport) => ({
    published: report.servers.map((s) => `${s.server}:${s.ok ? 'ok' : `error: ${s.error}`}`),
    ...(report.note ? { note: report.note } : {}),
  });
  const publishResult = (report: PublishReport) => (report.note || report.servers.some((s) => !s.ok) ? 'partial' : 'ok');

  /** Installs berth-shell and rewrites the team block of authorized_keys on every server, in parallel. */
  async function pushTeam(): Promise<PushReport> {
    const team = members.keys();
    const results = await Promise.all(
      deps.servers().map(async (server) => {
        try {
          const ssh = await deps.connection(server.id);
          await installScripts(ssh, deps.layout);
          await pushAuthorizedKeys(ssh, deps.layout, team);
          return { serverId: server.id, server: server.name, ok: true, members: team.length };
        } catch (err) {
          return { serverId: server.id, server: server.name, ok: false, error: errorText(err), members: team.length };
        }
      }),
    );
    return { servers: results, at: now().toISOString() };
  }
  const pushSummary = (report: PushReport) => report.servers.map((s) => `${s.server}:${s.ok ? 'ok' : `error: ${s.error}`}`);
  const pushResult = (report: PushReport) => (report.servers.every((s) => s.ok) ? 'ok' : report.servers.some((s) => s.ok) ? 'partial' : 'failed');

  /** Every deploy lock held on any server: who, since when, why. */
  async function locks(): Promise<LocksReport> {
    const report: LocksReport = { locks: [], errors: [] };
    await Promise.all(
      deps.servers().map(async (server) => {
        try {
          const held = await listLocks(await deps.connection(server.id), deps.layout);
          report.locks.push(...held.map((l) => ({ serverId: server.id, server: server.name, ...l })));
        } catch (err) {
          report.errors.push({ serverId: server.id, server: server.name, error: errorText(err) });
        }
      }),
    );
    report.locks.sort((a, b) => a.model.localeCompare(b.model) || a.server.localeCompare(b.server));
    return report;
  }

  async function memberChange(
    action: string,
    target: string,
    details: Record<string, unknown>,
  ): Promise<MemberChange> {
    const push = await pushTeam();
    await deps.audit.record({ action, target, result: pushResult(push), actor: deps.actor(), details: { ...details, servers: pushSummary(push) } });
    return { members: members.list(), push };
  }

  return {
    // ---- API keys
    listKeys: (): ApiKeyView[] => keys.list(),

    async createKey(input: CreateKey): Promise<CreatedKey> {
      const actor = deps.actor();
      const { key, secret } = keys.create(input, actor);
      const report = await publish();
      await deps.audit.record({
        action: 'key.create',
        target: key.id,
        result: publishResult(report),
        actor,
        details: { name: key.name, scope: key.scope, expiresAt: key.expiresAt, ...publishSummary(report) },
      });
      return { key, secret, publish: report };
    },

    async revokeKey(id: string): Promise<{ key: ApiKeyView; publish: PublishReport }> {
      const actor = deps.actor();
      const key = keys.revoke(id, actor);
      const report = await publish();
      await deps.audit.record({ action: 'key.revoke', target: id, result: publishResult(report), actor, details: { name: key.name, ...publishSummary(report) } });
      return { key, publish: report };
    },

    /** For the deploy orchestrator's routes.json: active keys only, secrets never (only their sha256). */
    keysForRoutes: () => keys.keysForRoutes(),
    /** Absolute per-key request counts (the logs service calls this after pulling the gateways' logs). */
    setKeyUsage: (counts: KeyUsage[]) => keys.setUsage(counts),
    /** Wires the deploy orchestrator's routes.json publisher after composition. */
    setPublisher: (fn: () => Promise<PublishReport>) => void (publisher = fn),

    models: () => keys.models(),

    async setPublic(model: string, isPublic: boolean): Promise<{ model: string; public: boolean; publish: PublishReport }> {
      const actor = deps.actor();
      const before = keys.setPublic(model, isPublic);
      const report = await publish();
      await deps.audit.record({
        action: 'model.public',
        target: model,
        result: publishResult(report),
        actor,
        details: { from: before, to: isPublic, ...publishSummary(report) },
      });
      return { model, public: isPublic, publish: report };
    },

    // ---- team members
    listMembers: (): MemberView[] => members.list(),

    async addMember(input: AddMember): Promise<MemberChange> {
      const member = members.add(input);
      return memberChange('member.add', member.name, { member: member.id, role: member.role, fingerprint: member.fingerprint });
    },

    async setRole(id: string, role: Role): Promise<MemberChange> {
      const { before, after } = members.setRole(id, role);
      if (before.role === role) return { members: members.list(), push: await pushTeam() };
      return memberChange('member.role', after.name, { member: id, from: before.role, to: role });
    },

    async removeMember(id: string): Promise<MemberChange> {
      const member = members.remove(id);
      return memberChange('member.remove', member.name, { member: id, role: member.role, fingerprint: member.fingerprint });
    },

    /** Pushes the team again (e.g. after a server was added or was down during a change). */
    async push(): Promise<PushReport> {
      const report = await pushTeam();
      await deps.audit.record({ action: 'team.push', target: `${members.list().length} members`, result: pushResult(report), actor: deps.actor(), details: { servers: pushSummary(report) } });
      return report;
    },

    // ---- deploy locks
    locks,

    /** Removes a model's deploy lock on every server (admins; the servers refuse it to anyone else). */
    async breakLock(model: string): Promise<BreakLockReport> {
      const before = (await locks()).locks.filter((l) => l.model === model);
      const servers = await Promise.all(
        deps.servers().map(async (server) => {
          try {
            return { serverId: server.id, server: server.name, ok: true, held: await breakLock(await deps.connection(server.id), deps.layout, model) };
          } catch (err) {
            return { serverId: server.id, server: server.name, ok: false, held: false, error: errorText(err) };
          }
        }),
      );
      await deps.audit.record({
        action: 'lock.break',
        target: model,
        result: servers.every((s) => s.ok) ? 'ok' : 'partial',
        actor: deps.actor(),
        details: {
          held: before.map((l) => ({ server: l.server, holder: l.holder, machine: l.machine, since: l.since, message: l.message })),
          servers: servers.map((s) => `${s.server}:${s.ok ? (s.held ? 'broken' : 'free') : `error: ${s.error}`}`),
        },
      });
      return { model, servers };
    },
  };
}
export type AccessService = ReturnType<typeof createAccessService>;
