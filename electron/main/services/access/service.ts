/**
 * Access control on the group state (docs/ARCHITECTURE.md, "Servers hold the truth"): API keys, public flags and
 * team members are changes to a group's state, written under the group lock to every server of the group, from
 * which each server's gateway table and authorized_keys block are derived. Taking rights away (a key revoked, a
 * member removed) applies at once on every reachable server, majority or not. Every change is audited.
 */
import type {
  AddMember,
  ApiKeyView,
  BreakLockReport,
  CreateKey,
  CreatedKey,
  KeyUsage,
  LockView,
  LocksReport,
  MemberChange,
  MemberView,
  PublishReport,
  PushReport,
  PushResult,
  Role,
} from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import type { GroupState, Revocation } from '../../../../shared/group-state';
import type { GroupStateService, ServerOutcome } from '../groups/service';
import { breakLock as breakLockCommand, listLocks as listLocksCommand } from '../groups/remote';
import { groupLock, modelLock, MODEL_NAME, type ServerLayout } from '../remote/layout';
import type { Db } from '../store/database';
import type { SshConnection } from '../transport/ssh';
import type { AuditService } from './audit/service';
import { createKeyStore } from './keys';
import { addToState, createMemberStore, setRoleInState } from './members';

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
  /** The group state on the servers: every key, public-flag and member change goes through it. */
  groups: Pick<GroupStateService, 'change' | 'revoke'>;
  /** Live per-key request counts, e.g. from the logs service. */
  usage?: () => KeyUsage[];
  now?: () => Date;
}

const errorText = (err: unknown) => BerthError.from(err).message;
const EXEC = { timeoutMs: 20_000 };
/** Errors of changes refused before anything was written. */
const REFUSALS = new Set(['ValidationError', 'NotFound', 'Conflict']);
/** The lock name shown for a group's state lock (a model's lock is shown by the model's name). */
const GROUP_LOCK_PREFIX = 'group:';

type Outcome = Pick<ServerOutcome, 'serverId' | 'server' | 'ok' | 'error'>;

const byServerName = <T extends { server: string }>(list: T[]) => [...list].sort((a, b) => a.server.localeCompare(b.server));
const summary = (outcomes: Outcome[]) => byServerName(outcomes).map((s) => `${s.server}:${s.ok ? 'ok' : `error: ${s.error}`}`);
const resultOf = (outcomes: Outcome[], note?: string) =>
  outcomes.length > 0 && outcomes.every((s) => s.ok) && !note ? 'ok' : outcomes.some((s) => s.ok) ? 'partial' : 'failed';

/** A revocation that reached servers but no revision: said in the report, since later reads show the revision. */
const unrecordedNote = (what: string, error: string) =>
  `${what} at once on the servers that answered, but not recorded in a new revision of the group state (${error}); ` +
  'the servers keep refusing it, and the next change of the group records it';

export function createAccessService(deps: AccessDeps) {
  const now = deps.now ?? (() => new Date());
  const keys = createKeyStore({ db: deps.db, now, usage: deps.usage });
  const members = createMemberStore(deps.db, now);
  const q = {
    groups: deps.db.prepare<[], { name: string }>('SELECT name FROM server_groups ORDER BY name'),
    groupServers: deps.db.prepare<[], { name: string; serverId: number }>(
      'SELECT g.name, m.server_id AS serverId FROM server_groups g JOIN server_group_members m ON m.group_id = g.id ORDER BY g.name, m.server_id',
    ),
    revokeKeyLocally: deps.db.prepare('UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL'),
    forgetMember: deps.db.prepare('DELETE FROM members WHERE id = ?'),
  };

  /**
   * The group a change goes to: the one asked for; else the group of the model it concerns; else the only group
   * this Berth knows. With several groups and nothing to choose by, the caller must name one.
   */
  function chooseGroup(asked: string | undefined, modelGroup: { model: string; group: string | null } | null, what: string): string {
    const names = q.groups.all().map((g) => g.name);
    if (asked) {
      if (!names.includes(asked)) {
        throw new BerthError('NotFound', `There is no server group "${asked}"${names.length ? ` (groups: ${names.join(', ')})` : ''}`);
      }
      if (modelGroup?.group && modelGroup.group !== asked) {
        throw new BerthError('ValidationError', `Model "${modelGroup.model}" belongs to group "${modelGroup.group}", not "${asked}": choose "${modelGroup.group}" for ${what}`);
      }
      return asked;
    }
    if (modelGroup?.group) return modelGroup.group;
    if (names.length === 1) return names[0];
    if (names.length === 0) {
      throw new BerthError('ValidationError', `There is no server group yet: create one with its servers (Servers page, or \`berth groups create\`) before ${what}`);
    }
    throw new BerthError('ValidationError', `Choose the group for ${what}: this Berth knows ${names.length} groups (${names.join(', ')})`);
  }

  const publishReport = (outcomes: Outcome[], revision: number | null, note?: string): PublishReport => ({
    servers: byServerName(outcomes).map((s) => ({
      serverId: s.serverId,
      server: s.server,
      ok: s.ok,
      ...(s.error ? { error: s.error } : {}),
      ...(s.ok && revision !== null ? { revision } : {}),
    })),
    ...(note ? { note } : {}),
  });

  const pushReport = (outcomes: Outcome[], memberCount: (serverId: number) => number, note?: string): PushReport => ({
    servers: byServerName(outcomes).map(
      (s): PushResult => ({ serverId: s.serverId, server: s.server, ok: s.ok, ...(s.error ? { error: s.error } : {}), members: memberCount(s.serverId) }),
    ),
    at: now().toISOString(),
    ...(note ? { note } : {}),
  });

  /**
   * Records a change that failed on the servers (too few reachable, a write that failed) before rethrowing its
   * error. A change refused before anything was written (bad input, a duplicate, another holder's lock) changed
   * nothing and is not recorded.
   */
  async function failed(action: string, target: string, details: Record<string, unknown>, err: unknown): Promise<never> {
    if (!REFUSALS.has(BerthError.from(err).kind)) {
      await deps.audit.record({ action, target, result: 'failed', actor: deps.actor(), details: { ...details, error: errorText(err) } }).catch(() => undefined);
    }
    throw err;
  }

  /** Takes a right away on every reachable server of its group, then records it in a revision when it can. */
  async function takeAway(group: string, revocations: Revocation[], what: string, mutate: (state: GroupState) => void, team: boolean) {
    const outcome = await deps.groups.revoke(group, revocations, what, mutate, { team });
    const note = outcome.recorded.error === null ? undefined : unrecordedNote(revocations[0].kind === 'key' ? 'Revoked' : 'Removed', outcome.recorded.error);
    return { servers: outcome.servers as Outcome[], revision: outcome.recorded.revision, note };
  }

  // ---- team

  /** Runs a team change on a group and records it; the report says per server whether its team block followed. */
  async function memberChange(
    action: string,
    target: string,
    group: string,
    details: Record<string, unknown>,
    run: () => Promise<{ servers: Outcome[]; revision: number | null; note?: string; members: number }>,
  ): Promise<MemberChange> {
    const done = await run().catch((err) => failed(action, target, { ...details, group }, err));
    if (done.revision === null && done.servers.every((s) => !s.ok)) {
      const err = new BerthError('SshUnreachable', `No server of group "${group}" could be changed:\n${summary(done.servers).join('\n')}`, { servers: done.servers });
      return failed(action, target, { ...details, group, servers: summary(done.servers) }, err);
    }
    const push = pushReport(done.servers, () => done.members, done.note);
    await deps.audit.record({
      action,
      target,
      result: resultOf(done.servers, done.note),
      actor: deps.actor(),
      details: { ...details, group, ...(done.revision !== null ? { revision: done.revision } : {}), servers: summary(done.servers), ...(done.note ? { note: done.note } : {}) },
    });
    return { members: members.list(), push };
  }

  /** Every lock on one server: model locks by model name, group-state locks as `group:<name>`. */
  function parseLocks(server: AccessServer, out: string): LockView[] {
    const locks: LockView[] = [];
    for (const line of out.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      const dir = line.slice(0, tab);
      const group = /\/groups\/([^/]+)\/lock$/.exec(dir)?.[1];
      const name = group ? `${GROUP_LOCK_PREFIX}${group}` : dir.slice(dir.lastIndexOf('/') + 1);
      // A lock moved aside while it expires (`<model>.stale.<pid>`) is not a lock any more.
      if (!group && !MODEL_NAME.test(name)) continue;
      let info: Record<string, unknown> = {};
      try {
        info = JSON.parse(line.slice(tab + 1));
      } catch {
        // a lock without a readable note is still a lock: shown with an unknown holder
      }
      const text = (v: unknown) => (typeof v === 'string' ? v : null);
      locks.push({ serverId: server.id, server: server.name, model: name, holder: text(info.holder), machine: text(info.machine), message: text(info.message), since: text(info.since) });
    }
    return locks;
  }

  /** Every model lock and group lock held on any registered server: who, since when, why. */
  async function locks(): Promise<LocksReport> {
    const report: LocksReport = { locks: [], errors: [] };
    await Promise.all(
      deps.servers().map(async (server) => {
        try {
          const out = await (await deps.connection(server.id)).run(listLocksCommand(deps.layout), EXEC);
          report.locks.push(...parseLocks(server, out));
        } catch (err) {
          report.errors.push({ serverId: server.id, server: server.name, error: errorText(err) });
        }
      }),
    );
    report.locks.sort((a, b) => a.model.localeCompare(b.model) || a.server.localeCompare(b.server));
    report.errors.sort((a, b) => a.server.localeCompare(b.server));
    return report;
  }

  /** A model's lock, or a group's state lock for `group:<name>`. */
  const lockDirOf = (name: string) =>
    name.startsWith(GROUP_LOCK_PREFIX) ? groupLock(deps.layout, name.slice(GROUP_LOCK_PREFIX.length)) : modelLock(deps.layout, name);

  return {
    // ---- API keys
    listKeys: (): ApiKeyView[] => keys.list(),

    /** Makes a key: the secret is returned once; the group state gets its sha256, and every server's gateway the key. */
    async createKey(input: CreateKey): Promise<CreatedKey> {
      const actor = deps.actor();
      const { entry, secret, group: asked } = keys.prepare(input, actor);
      const model = entry.scope.kind === 'all' ? null : entry.scope.model;
      const group = chooseGroup(asked, model ? { model, group: keys.modelGroup(model) } : null, model ? `a key for model "${model}"` : 'a key for all models');
      const details = { name: entry.name, scope: entry.scope, expiresAt: entry.expiresAt, group };
      const commit = await deps.groups
        .change(group, `key ${entry.id} created (${entry.name})`, (state) => {
          if (model && !state.models[model]) throw keys.unknownModel(model, Object.keys(state.models));
          state.keys.push(entry);
        })
        .catch((err) => failed('key.create', entry.id, details, err));
      await deps.audit.record({
        action: 'key.create',
        target: entry.id,
        result: resultOf(commit.servers),
        actor,
        details: { ...details, revision: commit.file.revision.revision, published: summary(commit.servers) },
      });
      return { key: keys.get(entry.id), secret, publish: publishReport(commit.servers, commit.file.revision.revision) };
    },

    /** Revokes a key on every reachable server of its group at once, then records it in the group state. */
    async revokeKey(id: string): Promise<{ key: ApiKeyView; publish: PublishReport }> {
      const actor = deps.actor();
      const key = keys.checkRevocable(id);
      const at = now().toISOString();
      if (key.group === null) {
        // Never published to a group (an old data folder with no group): no server's table is derived from it.
        q.revokeKeyLocally.run(at, actor, id);
        const note = `${id} was in no group's state, so no server served it: revoked in this data folder only`;
        await deps.audit.record({ action: 'key.revoke', target: id, result: 'ok', actor, details: { name: key.name, published: [], note } });
        return { key: keys.get(id), publish: { servers: [], note } };
      }
      const group = key.group;
      const done = await takeAway(
        group,
        [{ kind: 'key', id, at, by: actor }],
        `key ${id} revoked`,
        (state) => {
          const entry = state.keys.find((k) => k.id === id);
          if (entry && !entry.revokedAt) Object.assign(entry, { revokedAt: at, revokedBy: actor });
        },
        false,
      ).catch((err) => failed('key.revoke', id, { name: key.name, group }, err));
      if (done.servers.every((s) => !s.ok) && done.revision === null) {
        const err = new BerthError('SshUnreachable', `${id} could not be revoked: no server of group "${group}" answered.\n${summary(done.servers).join('\n')}`, { servers: done.servers });
        await failed('key.revoke', id, { name: key.name, group, published: summary(done.servers) }, err);
      }
      // Shown revoked here even when no revision recorded it yet: the servers that answered refuse it already.
      if (done.revision === null) q.revokeKeyLocally.run(at, actor, id);
      await deps.audit.record({
        action: 'key.revoke',
        target: id,
        result: resultOf(done.servers, done.note),
        actor,
        details: { name: key.name, group, ...(done.revision !== null ? { revision: done.revision } : {}), published: summary(done.servers), ...(done.note ? { note: done.note } : {}) },
      });
      return { key: keys.get(id), publish: publishReport(done.servers, done.revision, done.note) };
    },

    /** Absolute per-key request counts (the logs service calls this after pulling the gateways' logs). */
    setKeyUsage: (counts: KeyUsage[]) => keys.setUsage(counts),

    models: () => keys.models(),

    /** A model is private (keys required) unless made public here; a change of its group's state. */
    async setPublic(model: string, isPublic: boolean): Promise<{ model: string; public: boolean; publish: PublishReport }> {
      const actor = deps.actor();
      keys.publicFlag(model);
      const group = chooseGroup(undefined, { model, group: keys.modelGroup(model) }, `model "${model}"`);
      const commit = await deps.groups
        .change(group, `model ${model} made ${isPublic ? 'public' : 'private'}`, (state) => {
          const entry = state.models[model];
          if (!entry) throw new BerthError('NotFound', `Group "${group}" holds no model named "${model}" (it may have been removed by another Berth)`);
          const before = entry.public;
          entry.public = isPublic;
          return before;
        })
        .catch((err) => failed('model.public', model, { to: isPublic, group }, err));
      await deps.audit.record({
        action: 'model.public',
        target: model,
        result: resultOf(commit.servers),
        actor,
        details: { from: commit.result, to: isPublic, group, revision: commit.file.revision.revision, published: summary(commit.servers) },
      });
      return { model, public: isPublic, publish: publishReport(commit.servers, commit.file.revision.revision) };
    },

    // ---- team members
    listMembers: (): MemberView[] => members.list(),

    /** Adds a member to a group: every server of the group lets their key in, behind berth-shell with their role. */
    async addMember(input: AddMember): Promise<MemberChange> {
      const { entry, group: asked } = members.prepare(input);
      const group = chooseGroup(asked, null, `member ${entry.name}`);
      return memberChange('member.add', entry.name, group, { member: entry.id, role: entry.role, models: entry.models ?? null, fingerprint: entry.fingerprint }, async () => {
        const commit = await deps.groups.change(group, `member ${entry.name} added as ${entry.role}${entry.models ? ` on ${entry.models.join(', ')}` : ''}`, (state) => addToState(state, entry, group), { team: true });
        return { servers: commit.servers, revision: commit.file.revision.revision, members: commit.file.revision.state.members.length };
      });
    },

    /** A new role; a deployer may be limited to some models (null or absent: every model of the group). */
    async setRole(id: string, role: Role, models: string[] | null = null): Promise<MemberChange> {
      const member = members.get(id);
      const scope = role === 'deployer' && models ? [...new Set(models)].sort() : null;
      const scopeText = scope ? ` on ${scope.join(', ')}` : '';
      if (member.role === role && JSON.stringify(member.models) === JSON.stringify(scope)) {
        return { members: members.list(), push: pushReport([], () => 0, `${member.name} already has the role ${role}${scopeText}: nothing changed`) };
      }
      const group = member.group ?? chooseGroup(undefined, null, `member ${member.name}`);
      return memberChange('member.role', member.name, group, { member: id, from: member.role, to: role, models: scope }, async () => {
        const commit = await deps.groups.change(group, `member ${member.name} now ${role}${scopeText}`, (state) => setRoleInState(state, id, role, now().toISOString(), scope), {
          team: true,
        });
        return { servers: commit.servers, revision: commit.file.revision.revision, members: commit.file.revision.state.members.length };
      });
    },

    /**
     * Offboards a member: every reachable server of the group refuses their key at once, majority or not; with
     * `withOwned`, the CI runners' keys that belong to them too.
     */
    async removeMember(id: string, options: { withOwned?: boolean } = {}): Promise<MemberChange> {
      const member = members.get(id);
      const group = member.group ?? chooseGroup(undefined, null, `member ${member.name}`);
      const owned = options.withOwned ? members.list().filter((m) => m.owner === id) : [];
      const gone = new Set([id, ...owned.map((m) => m.id)]);
      const details = { member: id, role: member.role, fingerprint: member.fingerprint, ...(owned.length ? { alsoRemoved: owned.map((m) => m.name) } : {}) };
      return memberChange('member.remove', member.name, group, details, async () => {
        let left = 0;
        const at = now().toISOString();
        const done = await takeAway(
          group,
          [...gone].map((gid) => ({ kind: 'member' as const, id: gid, at, by: deps.actor() })),
          owned.length ? `member ${member.name} removed with ${owned.map((m) => m.name).join(', ')}` : `member ${member.name} removed`,
          (state) => {
            state.members = state.members.filter((m) => !gone.has(m.id));
            left = state.members.length;
          },
          true,
        );
        // Gone from this view even when no revision recorded it yet: the servers that answered refuse the key already.
        if (done.revision === null && done.servers.some((s) => s.ok)) for (const gid of gone) q.forgetMember.run(gid);
        return { ...done, members: done.revision === null ? members.list().filter((m) => m.group === group).length : left };
      });
    },

    /** Derives every server's team block again from its groups' states (e.g. after a server was down during a change). */
    async push(): Promise<PushReport> {
      const servers = new Map(deps.servers().map((s) => [s.id, s.name]));
      const byGroup = new Map<string, number[]>();
      for (const row of q.groupServers.all()) byGroup.set(row.name, [...(byGroup.get(row.name) ?? []), row.serverId]);
      const perServer = new Map<number, { outcomes: Outcome[]; keys: Set<string> }>();
      const slot = (serverId: number) => perServer.get(serverId) ?? perServer.set(serverId, { outcomes: [], keys: new Set() }).get(serverId)!;
      for (const [group, serverIds] of byGroup) {
        try {
          const commit = await deps.groups.change(group, 'team pushed again', () => undefined, { team: true });
          for (const outcome of commit.servers) {
            const entry = slot(outcome.serverId);
            entry.outcomes.push({ ...outcome, error: outcome.error && `${group}: ${outcome.error}` });
            if (outcome.ok) commit.file.revision.state.members.forEach((m) => entry.keys.add(m.publicKey));
          }
        } catch (err) {
          for (const serverId of serverIds) slot(serverId).outcomes.push({ serverId, server: servers.get(serverId) ?? `server ${serverId}`, ok: false, error: `${group}: ${errorText(err)}` });
        }
      }
      const outcomes: Outcome[] = [...perServer].map(([serverId, { outcomes: list }]) => ({
        serverId,
        server: list[0].server,
        ok: list.every((o) => o.ok),
        ...(list.some((o) => !o.ok) ? { error: list.filter((o) => !o.ok).map((o) => o.error).join('; ') } : {}),
      }));
      const report = pushReport(outcomes, (serverId) => perServer.get(serverId)?.keys.size ?? 0, byGroup.size === 0 ? 'No server group has servers yet: there is no team to install' : undefined);
      await deps.audit.record({
        action: 'team.push',
        target: `${members.list().length} members`,
        result: byGroup.size === 0 ? 'ok' : resultOf(outcomes),
        actor: deps.actor(),
        details: { groups: [...byGroup.keys()], servers: summary(outcomes) },
      });
      return report;
    },

    // ---- locks
    locks,

    /** Removes a model's lock (or `group:<name>`'s state lock) on every server (admins; audited). */
    async breakLock(model: string): Promise<BreakLockReport> {
      const dir = lockDirOf(model);
      const before = (await locks()).locks.filter((l) => l.model === model);
      const servers = await Promise.all(
        deps.servers().map(async (server) => {
          try {
            const out = await (await deps.connection(server.id)).run(breakLockCommand(dir), EXEC);
            return { serverId: server.id, server: server.name, ok: true, held: out.trim() === 'held' };
          } catch (err) {
            return { serverId: server.id, server: server.name, ok: false, held: false, error: errorText(err) };
          }
        }),
      );
      const sorted = byServerName(servers);
      await deps.audit.record({
        action: 'lock.break',
        target: model,
        result: servers.every((s) => s.ok) ? 'ok' : 'partial',
        actor: deps.actor(),
        details: {
          held: before.map((l) => ({ server: l.server, holder: l.holder, machine: l.machine, since: l.since, message: l.message })),
          servers: sorted.map((s) => `${s.server}:${s.ok ? (s.held ? 'broken' : 'free') : `error: ${s.error}`}`),
        },
      });
      return { model, servers: sorted };
    },
  };
}
export type AccessService = ReturnType<typeof createAccessService>;
