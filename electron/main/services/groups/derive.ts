/**
 * What one server runs, derived from the whole state of every group it belongs to (design point 3): its gateway
 * table and its team's members. A server may belong to several groups; its gateway serves their union.
 */
import type { RoutesFile } from '../../../../shared/gateway';
import type { GroupState, Revocation, StateKey, StateMember } from '../../../../shared/group-state';
import { checkCopy, type ServerListing } from './copies';

export interface ServerView {
  /** Verified states of the groups this server belongs to. */
  states: Map<string, GroupState>;
  /** Groups whose copy here failed to verify: nothing is derived from them. */
  damaged: string[];
  revocations: Map<string, Revocation[]>;
}

/** The verified group states in one server's listing that name this server as a member. */
export function serverView(listing: ServerListing): ServerView {
  const view: ServerView = { states: new Map(), damaged: [], revocations: listing.revocations };
  for (const [group, line] of listing.states) {
    const check = checkCopy(group, line);
    if (!check.ok) view.damaged.push(group);
    else if (check.file.revision.state.servers.some((s) => s.uid === listing.uid)) view.states.set(group, check.file.revision.state);
  }
  return view;
}

const revokedIds = (revocations: Revocation[] | undefined, kind: Revocation['kind']) =>
  new Set((revocations ?? []).filter((r) => r.kind === kind).map((r) => r.id));

function activeKeys(state: GroupState, revocations: Revocation[] | undefined, now: Date): StateKey[] {
  const revoked = revokedIds(revocations, 'key');
  return state.keys.filter((k) => !k.revokedAt && !revoked.has(k.id) && !(k.expiresAt && Date.parse(k.expiresAt) <= now.getTime()));
}

const servesHttpsOnly = (state: GroupState) => state.settings.tls === 'https';

/**
 * The gateway table of the server `uid` (without its revision, which the writer stamps). The whole table is
 * HTTPS-only when every group of the server is; otherwise each HTTPS group's models are (a shared server).
 */
export function deriveRoutes(view: ServerView, uid: string, now = new Date()): Omit<RoutesFile, 'revision'> {
  const models: RoutesFile['models'] = {};
  const keys: RoutesFile['keys'] = [];
  const allHttps = view.states.size > 0 && [...view.states.values()].every(servesHttpsOnly);
  for (const [group, state] of [...view.states].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [name, model] of Object.entries(state.models)) {
      const versions: RoutesFile['models'][string]['versions'] = {};
      for (const version of model.versions) {
        const replicas = version.placements[uid] ?? [];
        if (version.state === 'live' && replicas.length > 0) versions[String(version.number)] = { replicas: replicas.map((r) => `127.0.0.1:${r.port}`) };
      }
      if (Object.keys(versions).length === 0) continue;
      const aliases = Object.fromEntries(Object.entries(model.aliases).filter(([, n]) => versions[String(n)]).map(([a, n]) => [a, String(n)]));
      models[name] = { public: model.public, versions, aliases, ...(servesHttpsOnly(state) ? { httpsOnly: true } : {}) };
    }
    for (const key of activeKeys(state, view.revocations.get(group), now)) keys.push(routeKey(key, Object.keys(state.models)));
  }
  return { models, keys: keys.sort((a, b) => a.id.localeCompare(b.id)), ...(allHttps ? { httpsOnly: true } : {}) };
}

/** A key of one group: "all models" means all of that group's models, never another group's on the same server. */
function routeKey(key: StateKey, groupModels: string[]): RoutesFile['keys'][number] {
  const scope = key.scope;
  const models = scope.kind === 'all' ? [...groupModels].sort() : [scope.model];
  const versions = scope.kind === 'versions' ? { [scope.model]: [...scope.versions] } : null;
  return { id: key.id, sha256: key.sha256, models, versions, expiresAt: key.expiresAt };
}

/** Everyone who may log in to this server: the members of all its groups, less those removed anywhere. */
export function deriveMembers(view: ServerView): StateMember[] {
  const byKey = new Map<string, StateMember>();
  for (const [group, state] of view.states) {
    const removed = revokedIds(view.revocations.get(group), 'member');
    for (const member of state.members) {
      if (removed.has(member.id)) continue;
      const known = byKey.get(member.publicKey);
      // A person in two groups with two roles gets the stronger one on a server the groups share.
      if (!known || rank(member.role) > rank(known.role)) byKey.set(member.publicKey, member);
    }
  }
  return [...byKey.values()].sort((a, b) => a.id.localeCompare(b.id));
}

const rank = (role: StateMember['role']) => ['viewer', 'deployer', 'admin'].indexOf(role);
