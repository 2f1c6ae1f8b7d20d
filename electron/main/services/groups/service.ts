/**
 * The group state on the servers (docs/ARCHITECTURE.md, "Servers hold the truth"): every change is a new
 * revision written under the group lock to every reachable server of the group, refused without a majority, and
 * followed on each server by the table its gateway serves, derived from the whole state of all its groups.
 * The local SQLite only caches what the servers hold.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../../../shared/errors';
import { GroupState, STATE_FORMAT, type RequestLogBound, type Revocation, type StateFile, type StateMember, type GroupSyncView } from '../../../../shared/group-state';
import { remoteGet } from '../deploy/remote-http';
import { checkRoutes } from '../gateway/routes';
import { command } from '../remote/command';
import { GATEWAY_CONTAINER, GATEWAY_PORT, groupLock, groupPaths, modelLock, type LockPlace, type ServerLayout } from '../remote/layout';
import type { ServerRegistry } from '../servers/registry';
import type { Db } from '../store/database';
import type { SshConnection } from '../transport/ssh';
import { createStateCache } from './cache';
import { checkCopy, chooseCurrent, parseListing, revisionHash, stateFileText, type ServerCopy, type ServerListing } from './copies';
import { deriveMembers, deriveRoutes, serverView } from './derive';
import { stateFromLocalCache } from './legacy';
import * as remote from './remote';

export interface GroupStateDeps {
  db: Db;
  registry: ServerRegistry;
  connection(serverId: number): Promise<SshConnection>;
  layout: ServerLayout;
  actor(): { holder: string; machine: string };
  /** Installs who may log in to one server (the access service's authorized_keys block). */
  applyTeam?(ssh: SshConnection, members: StateMember[]): Promise<void>;
  now?(): Date;
  /** This data folder's path: with the pid in each lock note, it lets a restarted Berth free its dead process's locks. */
  folder?: string;
  /** How long a change waits for another Berth's lock before it is refused; default 20 s. */
  lockWaitMs?: number;
}

export interface ChangeOptions {
  /** The change alters who may log in: each server's team block is derived again. */
  team?: boolean;
  /** Servers to lock and write besides the group's (e.g. the ones a membership change adds). */
  alsoServers?: number[];
}

export interface ServerOutcome {
  serverId: number;
  server: string;
  ok: boolean;
  error?: string;
}

export interface Commit<T> {
  result: T;
  file: StateFile;
  servers: ServerOutcome[];
}

interface Target {
  serverId: number;
  name: string;
  uid: string;
}

interface HeldLock {
  target: Target;
  ssh: SshConnection;
}

/** The group lock covers one read-modify-write (seconds); a holder that died frees it after this long. */
const GROUP_LOCK_TTL_S = 120;
/** A model's lock lasts for its operation, kept fresh by a heartbeat; this long after a holder died, it is free. */
const MODEL_LOCK_TTL_S = 180;
const CONFIRM_MS = 5000;
const DERIVE_ATTEMPTS = 4;
const EXEC = { timeoutMs: 20_000 };

/** Failures that say the server is not the one pinned, or refuses us: never counted as merely unreachable. */
const IDENTITY_ERRORS = new Set(['HostKeyMismatch', 'HostKeyUnknown', 'SshAuthError']);
const errorText = (err: unknown) => BerthError.from(err).message;
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
const majorityOf = (n: number) => Math.floor(n / 2) + 1;
const newUid = () => `srv_${randomBytes(8).toString('hex')}`;

/** A webhook named in a revision's description by its host only: its path often carries a secret (Slack's does). */
const webhookHost = (url: string) => new URL(url).host;

let lastTableRevision = 0;
/** Strictly increasing for every table this process writes, so a gateway's health shows which one it runs. */
function nextTableRevision(): number {
  lastTableRevision = Math.max(lastTableRevision + 1, Date.now());
  return lastTableRevision;
}

export function createGroupStateService(deps: GroupStateDeps) {
  const { registry, layout } = deps;
  const now = deps.now ?? (() => new Date());
  const cache = createStateCache(deps.db, registry);
  const gatewayDir = `${layout.berthDir}/gateway`;

  /** Reads (and if needed makes) the server's identity; returns its listing of every group. */
  async function identify(serverId: number): Promise<ServerListing> {
    const ssh = await deps.connection(serverId);
    const listing = parseListing(await ssh.run(remote.identifyAndList(layout, newUid()), EXEC));
    if (!listing.uid) throw new BerthError('RemoteCommandFailed', `${registry.get(serverId).name} has no readable identity in ${layout.berthDir}/server.json`);
    if (registry.get(serverId).uid !== listing.uid) registry.setUid(serverId, listing.uid);
    return listing;
  }

  async function targetOf(serverId: number): Promise<Target> {
    const row = registry.get(serverId);
    const uid = row.uid ?? (await identify(serverId)).uid!;
    return { serverId, name: row.name, uid };
  }

  async function targetsOf(groupName: string, extra: number[] = []): Promise<{ targets: Target[]; unreachable: ServerOutcome[] }> {
    const ids = [...new Set([...registry.group(groupName).serverIds, ...extra])];
    if (ids.length === 0) throw new BerthError('ValidationError', `Group "${groupName}" has no servers: add servers to it first`);
    const settled = await Promise.allSettled(ids.map(targetOf));
    const targets = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const unreachable = settled.flatMap((s, i) =>
      s.status === 'rejected' ? [{ serverId: ids[i], server: registry.get(ids[i]).name, ok: false, error: errorText(s.reason) }] : [],
    );
    return { targets: targets.sort((a, b) => a.uid.localeCompare(b.uid)), unreachable };
  }

  /**
   * Takes a lock folder on the targets in one order every Berth shares (by server identity), so two Berths never
   * hold a part each. A lock another holder has is waited for (bounded), then the change is refused naming them.
   */
  async function takeLocks(targets: Target[], dir: LockPlace, message: string, ttlSeconds: number, needed: number, waitMs = deps.lockWaitMs ?? 20_000) {
    const token = randomBytes(12).toString('hex');
    const note = JSON.stringify({ ...deps.actor(), message, since: now().toISOString(), token, pid: process.pid, folder: deps.folder ?? null });
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      // Connections open in parallel (a dead server costs one timeout, not one per server); locks are taken in order.
      const reached = await reach(targets);
      const held: HeldLock[] = [];
      let holder: string | null = null;
      for (const { target, ssh } of reached.connected) {
        try {
          let out = (await ssh.run(remote.acquireLock(dir, note, ttlSeconds), EXEC)).trim();
          const orphan = orphanToken(out);
          if (orphan) {
            await ssh.run(remote.releaseLock(dir, orphan), EXEC);
            out = (await ssh.run(remote.acquireLock(dir, note, ttlSeconds), EXEC)).trim();
          }
          if (out === 'acquired') held.push({ target, ssh });
          else {
            holder = describeHolder(out, target.name);
            break;
          }
        } catch (err) {
          // A server that refuses this member refuses on every server (the same state): say which role is needed.
          if (BerthError.from(err).kind === 'Unauthorized') {
            await releaseLocks(held, dir, token);
            throw err;
          }
          reached.failed.push({ serverId: target.serverId, server: target.name, ok: false, error: errorText(err) });
        }
      }
      const failed = reached.failed;
      if (!holder && held.length >= needed) return { held, failed, token, release: () => releaseLocks(held, dir, token) };
      await releaseLocks(held, dir, token);
      if (!holder) {
        throw new BerthError(
          'SshUnreachable',
          `Only ${held.length} of ${targets.length} servers could be locked; a change needs ${needed} so that no other Berth can make a conflicting one.\n` +
            failed.map((f) => `${f.server}: ${f.error}`).join('\n') +
            '\nBring the servers back, or remove a lost server from the group.',
          { servers: failed },
        );
      }
      if (Date.now() + 500 > deadline || attempt > 200) {
        throw new BerthError('Conflict', `${holder}. Wait for it to finish and try again, or break the lock if that Berth is gone.`, { holder });
      }
      await sleep(500);
    }
  }

  async function reach(targets: Target[]): Promise<{ connected: HeldLock[]; failed: ServerOutcome[] }> {
    const settled = await Promise.all(
      targets.map(async (target) => {
        try {
          const ssh = await deps.connection(target.serverId);
          await retryReleases(target.serverId, ssh);
          return { target, ssh };
        } catch (err) {
          const error = BerthError.from(err);
          // A server that answers as someone else is not "down": nothing proceeds without it until a person looks.
          if (IDENTITY_ERRORS.has(error.kind)) throw new BerthError(error.kind, `${target.name}: ${error.message}`, error.detail);
          return { target, error: error.message };
        }
      }),
    );
    return {
      connected: settled.flatMap((s) => ('ssh' in s && s.ssh ? [{ target: s.target, ssh: s.ssh }] : [])),
      failed: settled.flatMap((s) => ('error' in s ? [{ serverId: s.target.serverId, server: s.target.name, ok: false, error: s.error }] : [])),
    };
  }

  /** Releases that failed (the server went away) are retried the next time this Berth reaches that server. */
  const pendingReleases = new Map<number, Array<{ dir: LockPlace; token: string }>>();

  async function releaseLocks(held: HeldLock[], dir: LockPlace, token: string) {
    await Promise.all(
      held.map(async ({ ssh, target }) => {
        try {
          await ssh.run(remote.releaseLock(dir, token), EXEC);
        } catch {
          pendingReleases.set(target.serverId, [...(pendingReleases.get(target.serverId) ?? []), { dir, token }]);
        }
      }),
    );
  }

  async function retryReleases(serverId: number, ssh: SshConnection) {
    const pending = pendingReleases.get(serverId);
    if (!pending) return;
    pendingReleases.delete(serverId);
    const held = [{ ssh, target: { serverId, name: registry.get(serverId).name, uid: '' } }];
    for (const { dir, token } of pending) await releaseLocks(held, dir, token);
  }

  /**
   * The token of a lock that a Berth process of this same data folder on this machine took and that is no longer
   * running (it crashed or was killed): such a lock can be released at once instead of waiting for its expiry.
   */
  function orphanToken(out: string): string | null {
    if (!out.startsWith('held') || !deps.folder) return null;
    try {
      const info = JSON.parse(out.slice(out.indexOf('\t') + 1)) as { machine?: string; folder?: string; pid?: number; token?: string };
      if (info.folder !== deps.folder || info.machine !== deps.actor().machine || !info.token || typeof info.pid !== 'number' || info.pid === process.pid) return null;
      return processAlive(info.pid) ? null : info.token;
    } catch {
      return null;
    }
  }

  function describeHolder(out: string, server: string): string {
    let info: { holder?: string; machine?: string; since?: string; message?: string } = {};
    try {
      info = JSON.parse(out.slice(out.indexOf('\t') + 1));
    } catch {
      // an unreadable note still blocks; it is reported as held by someone unknown
    }
    return `Locked on ${server} by ${info.holder ?? 'someone'}@${info.machine ?? '?'} since ${info.since ?? '?'}${info.message ? ` ("${info.message}")` : ''}`;
  }

  /** The locked servers' copies of the group; a server lost since it was locked is left out and reported in `lost`. */
  async function readCopies(held: HeldLock[], group: string) {
    const settled = await Promise.allSettled(
      held.map(async (h) => {
        const listing = parseListing(await h.ssh.run(remote.listGroups(layout, group), EXEC));
        const line = listing.states.get(group);
        return { ...h, serverUid: h.target.uid, check: line === undefined ? null : checkCopy(group, line), revocations: listing.revocations.get(group) ?? [] };
      }),
    );
    const copies = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const lost = settled.flatMap((s, i): ServerOutcome[] =>
      s.status === 'rejected' ? [{ serverId: held[i].target.serverId, server: held[i].target.name, ok: false, error: errorText(s.reason) }] : [],
    );
    return { copies, lost };
  }

  /** Rights taken away on any server (even without a revision) are taken away in every revision that follows. */
  function applyRevocations(state: GroupState, revocations: Revocation[]): void {
    for (const r of revocations) {
      if (r.kind === 'key') {
        const key = state.keys.find((k) => k.id === r.id);
        if (key && !key.revokedAt) Object.assign(key, { revokedAt: r.at, revokedBy: r.by });
      } else state.members = state.members.filter((m) => m.id !== r.id);
    }
  }

  /** A set of copies older than what this Berth already saw was rolled back (e.g. restored from a backup). */
  function refuseRollback(group: string, current: StateFile | null) {
    const seen = cache.lastSeen(group);
    if (seen.revision !== null && (!current || current.revision.revision < seen.revision)) {
      throw new BerthError(
        'Conflict',
        `The servers of group "${group}" hold revision ${current?.revision.revision ?? 'none'}, but this Berth already saw revision ${seen.revision}: ` +
          `their state was rolled back or lost. Nothing was changed. Restore /var/lib/berth/groups/${group} from a server that has it, or ask an admin.`,
      );
    }
  }

  /** The state a change starts from: the servers', or for a group never published, this data folder's (migration). */
  function baseState(group: string, current: StateFile | null): GroupState {
    if (current) return current.revision.state;
    return stateFromLocalCache(deps.db, registry, group).state;
  }

  function nextFile(group: string, current: StateFile | null, state: GroupState, change: string): StateFile {
    const revision = {
      format: STATE_FORMAT,
      group,
      revision: (current?.revision.revision ?? 0) + 1,
      prev: current?.hash ?? null,
      at: now().toISOString(),
      by: deps.actor(),
      change,
      state,
    } as const;
    return { hash: revisionHash(revision), revision };
  }

  function validState(state: GroupState): GroupState {
    const parsed = GroupState.safeParse(state);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new BerthError('ValidationError', `That change would make an invalid group state at ${issue.path.join('.')}: ${issue.message}`);
  }

  /**
   * One change to a group: lock, read the current revision from the servers, apply `mutate` to a copy, write the
   * next revision to every locked server, derive what each serves, release. A change that cannot lock a majority
   * of the group's servers is refused before anything is written.
   */
  async function change<T>(group: string, what: string, mutate: (state: GroupState) => T, options: ChangeOptions = {}): Promise<Commit<T>> {
    const { targets, unreachable } = await targetsOf(group, options.alsoServers);
    const needed = majorityOf(targets.length + unreachable.length);
    const lock = await takeLocks(targets, groupLock(layout, group), `${group}: ${what}`, GROUP_LOCK_TTL_S, needed);
    try {
      const { copies, lost } = await readCopies(lock.held, group);
      const { current } = chooseCurrent(copies);
      refuseRollback(group, current);
      const state = structuredClone(baseState(group, current));
      applyRevocations(state, copies.flatMap((c) => c.revocations));
      const result = mutate(state);
      state.settings.peerToken ??= randomBytes(32).toString('hex');
      const file = nextFile(group, current, validState(state), what);
      const quorum = majorityOf(file.revision.state.servers.length);
      const members = new Set(file.revision.state.servers.map((s) => s.uid));
      if (copies.filter((c) => members.has(c.serverUid)).length < quorum) {
        throw new BerthError('SshUnreachable', `Only ${copies.length} servers of group "${group}" answered; this change needs ${quorum} of its ${members.size}. Nothing was changed.`);
      }
      const outcomes = await Promise.all(copies.map((copy) => writeAndDerive(copy, file, options)));
      const written = outcomes.filter((o, i) => o.ok && members.has(copies[i].serverUid)).length;
      if (written < quorum) {
        throw new BerthError('RemoteCommandFailed', `Revision ${file.revision.revision} of "${group}" reached only ${written} of the ${quorum} servers it needs:\n${outcomes.filter((o) => !o.ok).map((o) => `${o.server}: ${o.error}`).join('\n')}`);
      }
      importCommitted(file);
      return { result, file, servers: [...outcomes, ...unreachable, ...lock.failed, ...lost] };
    } finally {
      await lock.release();
    }
  }

  /** The change is committed on the servers whatever happens here: a cache that cannot take it is refreshed later. */
  function importCommitted(file: StateFile) {
    try {
      cache.importRevision(file, now().toISOString());
    } catch (err) {
      console.error(`Revision ${file.revision.revision} of ${file.revision.group} is on the servers, but this Berth's cache could not take it (${errorText(err)}); it is read again on the next refresh`);
    }
  }

  async function writeAndDerive(copy: ServerCopy & HeldLock, file: StateFile, options: ChangeOptions): Promise<ServerOutcome> {
    const outcome = { serverId: copy.target.serverId, server: copy.target.name };
    try {
      const expected = copy.check === null ? 'none' : copy.check.ok ? copy.check.digest : 'any';
      const replaced = copy.check?.ok ? copy.check.file.revision.revision : 0;
      const written = await copy.ssh.run(remote.writeState(layout, file.revision.group, expected, replaced), { ...EXEC, stdin: stateFileText(file) });
      if (copy.ssh.member) await derivedByServer(copy.ssh, written, options.team ?? false);
      else await derive(copy.ssh, written, options.team ?? false);
      return { ...outcome, ok: true };
    } catch (err) {
      if (BerthError.from(err).kind === 'Unauthorized') throw err; // the member's rights, the same on every server
      return { ...outcome, ok: false, error: errorText(err) };
    }
  }

  /**
   * Derives and installs one server's gateway table (and team block) from the listing of all its groups; when
   * another Berth changed a group in between, reads again and derives again (bounded).
   */
  async function derive(ssh: SshConnection, listingText: string, team: boolean): Promise<void> {
    let text = listingText;
    for (let attempt = 1; ; attempt++) {
      const listing = parseListing(text);
      const view = serverView(listing);
      if (view.damaged.length) {
        throw new BerthError('ValidationError', `${ssh.target.host} holds a damaged state of ${view.damaged.join(', ')}: its gateway keeps its current table until that copy is repaired`);
      }
      const routes = checkRoutes({ revision: nextTableRevision(), ...deriveRoutes(view, listing.uid!, now()) });
      const result = await ssh.exec(remote.applyRoutes(layout, gatewayDir, GATEWAY_CONTAINER, listing.digest), { ...EXEC, stdin: `${JSON.stringify(routes)}\n` });
      if (result.code === remote.CHANGED_SINCE_READ && attempt < DERIVE_ATTEMPTS) {
        text = await ssh.run(remote.listGroups(layout, '*'), EXEC);
        continue;
      }
      if (result.code !== 0) throw new BerthError('RemoteCommandFailed', `Could not install the gateway table on ${ssh.target.host}: ${result.stderr.trim()}`);
      if (result.stdout.toString().trim() === 'gateway') await confirmTable(ssh, routes.revision);
      if (team) await deps.applyTeam?.(ssh, deriveMembers(view));
      return;
    }
  }

  /**
   * A member's `state-apply` derived the server's table itself and ends with `routes\t<revision>\t<gateway|table>` (or `unchanged`): wait
   * for a running gateway to serve it. The team block needs every group's members, so an admin reads them all.
   */
  async function derivedByServer(ssh: SshConnection, output: string, team: boolean): Promise<void> {
    const routes = /^routes\t(?:unchanged|(\d+)\t(gateway|table))$/m.exec(output);
    if (!routes) throw new BerthError('RemoteCommandFailed', `${ssh.target.host} wrote the state but did not say whether it derived its gateway table`);
    if (routes[2] === 'gateway') await confirmTable(ssh, Number(routes[1]));
    if (team) await deps.applyTeam?.(ssh, deriveMembers(serverView(parseListing(await ssh.run(remote.listGroups(layout, '*').withoutVerb(), EXEC)))));
  }

  async function confirmTable(ssh: SshConnection, revision: number): Promise<void> {
    const deadline = Date.now() + CONFIRM_MS;
    let seen: unknown = 'no answer';
    while (Date.now() < deadline) {
      const health = await remoteGet(ssh, GATEWAY_PORT, '/_berth/health').catch(() => ({ status: 0, body: '' }));
      if (health.status === 200) {
        try {
          seen = JSON.parse(health.body).revision;
          if (typeof seen === 'number' && seen >= revision) return;
        } catch {
          seen = 'an unreadable health answer';
        }
      }
      await sleep(150);
    }
    throw new BerthError('RemoteCommandFailed', `The gateway on ${ssh.target.host} did not take table ${revision} (it reports ${String(seen)})`);
  }

  /**
   * Takes rights away at once on every reachable server of the group, without the lock or a majority: the
   * revocation is appended to the grow-only file every later revision and derivation honours, then recorded in
   * a revision when a majority answers.
   */
  async function revoke(group: string, revocations: Revocation[], what: string, mutate: (state: GroupState) => void, options: ChangeOptions = {}) {
    const { targets, unreachable } = await targetsOf(group);
    const lines = revocations.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const immediate = await Promise.all(
      targets.map(async (t): Promise<ServerOutcome> => {
        try {
          const ssh = await deps.connection(t.serverId);
          await ssh.run(remote.appendRevocations(layout, group), { ...EXEC, stdin: lines });
          if (ssh.member) await derivedByServer(ssh, await ssh.run(remote.deriveOnServer(), EXEC), options.team ?? false);
          else await derive(ssh, await ssh.run(remote.listGroups(layout, '*'), EXEC), options.team ?? false);
          return { serverId: t.serverId, server: t.name, ok: true };
        } catch (err) {
          return { serverId: t.serverId, server: t.name, ok: false, error: errorText(err) };
        }
      }),
    );
    const recorded = await change(group, what, mutate, options).then(
      (commit) => ({ revision: commit.file.revision.revision, error: null }),
      (err) => ({ revision: null, error: errorText(err) }),
    );
    return { servers: [...immediate, ...unreachable], recorded };
  }

  /** Reads every group from every registered server into the cache; publishes groups only this folder knows. */
  async function attach(serverIds = registry.list().map((s) => s.id)): Promise<{ groups: GroupSyncView[]; problems: string[] }> {
    const problems: string[] = [];
    const listings = new Map<number, ServerListing>();
    await Promise.all(
      serverIds.map(async (id) => {
        try {
          listings.set(id, await identify(id));
        } catch (err) {
          problems.push(`${registry.get(id).name}: ${errorText(err)}`);
        }
      }),
    );
    const names = new Set([...listings.values()].flatMap((l) => [...l.states.keys()]));
    for (const group of names) {
      const copies = [...listings].flatMap(([id, l]) => {
        const line = l.states.get(group);
        return line === undefined ? [] : [{ serverUid: l.uid!, serverId: id, check: checkCopy(group, line) }];
      });
      const { current } = chooseCurrent(copies);
      if (!current || !current.revision.state.servers.some((s) => registry.byUid(s.uid))) continue;
      const problem = adoptionProblem(group, current);
      if (problem) problems.push(problem);
      else cache.importRevision(current, now().toISOString());
    }
    await publishLocalOnly(problems);
    return { groups: registry.groups().map((g) => syncView(g.name)), problems };
  }

  /** A data folder with its own models for a group the servers already hold is not merged silently. */
  function adoptionProblem(group: string, current: StateFile): string | null {
    const seen = cache.lastSeen(group);
    if (seen.revision !== null && current.revision.revision < seen.revision) {
      return `Group "${group}": its servers hold revision ${current.revision.revision}, older than the ${seen.revision} this Berth saw (rolled back?); the cache was kept.`;
    }
    const local = registry.groups().find((g) => g.name === group);
    if (local && seen.revision === null && stateFromLocalCache(deps.db, registry, group).content) {
      return `Group "${group}" already has a state on its servers (revision ${current.revision.revision} by ${current.revision.by.holder}), and this data folder has its own models, keys or members for a group of that name. Nothing was merged: rename this folder's group, or remove it to join the servers' one.`;
    }
    return null;
  }

  async function publishLocalOnly(problems: string[]) {
    for (const group of registry.groups()) {
      if (group.revision !== null || group.serverIds.length === 0 || !stateFromLocalCache(deps.db, registry, group.name).content) continue;
      await change(group.name, 'published this data folder’s state (migration)', () => undefined, { team: true }).catch((err) => problems.push(`${group.name}: ${errorText(err)}`));
    }
  }

  /** This computer's gateway and agent listen on 127.0.0.1, which no other server of a group could reach. */
  function checkThisComputerAlone(serverIds: number[]): void {
    const local = serverIds.map((id) => registry.get(id)).find((row) => row.transport === 'local');
    if (local && new Set(serverIds).size > 1) {
      throw new BerthError('ValidationError', `${local.name} is this computer: it serves its own group alone (its endpoints listen on 127.0.0.1, which other servers cannot reach). Put servers in a group without it.`);
    }
  }

  /**
   * Changes a group's servers or default replica count. Servers removed are written the new revision too when
   * they answer (so they stop serving the group); the majority is counted over the servers the group keeps, so an
   * admin can always remove a lost server with the reachable ones.
   */
  async function updateGroup(group: string, update: { replicas?: number; serverIds?: number[]; webhooks?: string[]; requestLog?: RequestLogBound }) {
    if (update.serverIds) checkThisComputerAlone(update.serverIds);
    const joining = update.serverIds ? await Promise.all(update.serverIds.map(targetOf)) : null;
    await change(
      group,
      [
        joining ? `servers: ${joining.map((t) => t.name).join(', ')}` : '',
        update.replicas ? `${update.replicas} replicas per server` : '',
        update.requestLog ? `inference log kept: ${update.requestLog.maxMb} MB, ${update.requestLog.maxDays} days per server` : '',
        update.webhooks ? `webhooks: ${update.webhooks.length ? update.webhooks.map(webhookHost).join(', ') : 'none'}` : '',
      ]
        .filter(Boolean)
        .join('; '),
      (state) => {
        if (update.replicas) state.settings.replicas = update.replicas;
        if (update.webhooks) state.settings.webhooks = update.webhooks;
        if (update.requestLog) state.settings.requestLog = update.requestLog;
        if (joining) {
          state.servers = joining.map((t) => {
            const row = registry.get(t.serverId);
            return { uid: t.uid, name: row.name, host: row.host, port: row.port };
          });
        }
      },
      { team: true, alsoServers: update.serverIds },
    );
    return registry.group(group);
  }

  /** A group published to its servers is not forgotten here alone: the next attach would bring it back. */
  function removeGroup(id: number) {
    const group = registry.group(id);
    if (group.revision !== null) {
      throw new BerthError(
        'Conflict',
        `Group "${group.name}" lives on its servers (revision ${group.revision}), so every Berth that adds them sees it again. To retire it, stop its models, then remove ${groupPaths(layout, group.name).dir} on each of its servers.`,
      );
    }
    registry.removeGroup(id);
  }

  /** Reads one group's copies from its servers, refreshes the cache, and says how each copy stands. */
  async function refresh(group: string): Promise<GroupSyncView> {
    const { targets, unreachable } = await targetsOf(group);
    const copies: ServerCopy[] = await Promise.all(
      targets.map(async (t): Promise<ServerCopy> => {
        try {
          const ssh = await deps.connection(t.serverId);
          const line = parseListing(await ssh.run(remote.listGroups(layout, group), EXEC)).states.get(group);
          return { serverUid: t.uid, check: line === undefined ? null : checkCopy(group, line) };
        } catch (err) {
          return { serverUid: t.uid, check: null, unreachable: errorText(err) };
        }
      }),
    );
    const { current, states } = chooseCurrent(copies);
    if (current && !adoptionProblem(group, current)) cache.importRevision(current, now().toISOString());
    const view = syncView(group);
    view.copies = [
      ...targets.map((t) => ({ server: t.name, ...copyState(states.get(t.uid)!, copies.find((c) => c.serverUid === t.uid)!) })),
      ...unreachable.map((u) => ({ server: u.server, state: 'unreachable' as const, revision: null, detail: u.error })),
    ];
    return view;
  }

  const copyState = (s: { state: GroupSyncView['copies'][number]['state']; detail?: string }, copy: ServerCopy) => ({
    state: s.state,
    revision: copy.check?.ok ? copy.check.file.revision.revision : null,
    ...(s.detail ? { detail: s.detail } : {}),
  });

  /** Repairs damaged, missing or older copies of a group by writing its current revision to them again. */
  async function repair(group: string): Promise<GroupSyncView> {
    await change(group, 'repaired the copies that were damaged or behind', () => undefined, { team: true });
    return refresh(group);
  }

  /** Cheap check of whether another Berth changed the group: the hash at the head of one server's state file. */
  async function changedRemotely(group: string): Promise<'changed' | 'same' | 'unanswered'> {
    const known = cache.lastSeen(group).hash;
    for (const id of registry.group(group).serverIds) {
      try {
        const head = await (await deps.connection(id)).run(command('head', '-c', 90, groupPaths(layout, group).state), { timeoutMs: 8000 });
        return /"hash":"([0-9a-f]{64})"/.exec(head)?.[1] === known ? 'same' : 'changed';
      } catch {
        // the next server may answer
      }
    }
    return 'unanswered';
  }

  /**
   * What the app polls: a group another Berth changed is read again; one whose servers did not answer is read in
   * full too, so the view names each unreachable copy instead of claiming to be fresh.
   */
  async function poll(): Promise<GroupSyncView[]> {
    const views: GroupSyncView[] = [];
    for (const group of registry.groups()) {
      if (group.serverIds.length === 0) {
        views.push(syncView(group.name));
        continue;
      }
      if ((await changedRemotely(group.name)) !== 'same') views.push(await refresh(group.name));
      else {
        cache.markRefreshed(group.name, now().toISOString());
        views.push(syncView(group.name));
      }
    }
    return views;
  }

  function syncView(group: string): GroupSyncView {
    const g = registry.group(group);
    return { group, revision: g.revision, hash: cache.lastSeen(group).hash, by: g.changedBy, at: g.changedAt, refreshedAt: g.refreshedAt, copies: [] };
  }

  /**
   * The model's operation lock, held for a whole deploy or rollback on a majority of the group's servers; a second
   * operation on the same model is refused at once, naming the holder. `work` gets the lock's token, which the
   * operation journal keeps so that recovery after a crash releases this lock and no other.
   */
  async function withModelLock<T>(group: string, model: string, message: string, work: (token: string) => Promise<T>): Promise<T> {
    const { targets, unreachable } = await targetsOf(group);
    const dir = modelLock(layout, model);
    const lock = await takeLocks(targets, dir, message, MODEL_LOCK_TTL_S, majorityOf(targets.length + unreachable.length), 0);
    // The lock outlives a Berth that died holding it by at most its TTL: while this one works, it keeps it fresh.
    const heartbeat = setInterval(() => {
      for (const { ssh } of lock.held) void ssh.run(remote.extendLock(dir, lock.token, MODEL_LOCK_TTL_S), EXEC).catch(() => undefined);
    }, (MODEL_LOCK_TTL_S * 1000) / 4);
    try {
      return await work(lock.token);
    } finally {
      clearInterval(heartbeat);
      await lock.release();
    }
  }

  /** Releases a model lock a crashed operation of this data folder took (by its token: never another holder's). */
  async function releaseModelLock(serverIds: number[], model: string, token: string): Promise<void> {
    await Promise.allSettled(serverIds.map(async (id) => (await deps.connection(id)).run(remote.releaseLock(modelLock(layout, model), token), EXEC)));
  }

  return { identify, attach, change, revoke, refresh, repair, poll, updateGroup, removeGroup, withModelLock, releaseModelLock, syncView, cache };
}
export type GroupStateService = ReturnType<typeof createGroupStateService>;
