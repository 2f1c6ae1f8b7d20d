/**
 * Migration: a data folder made before the servers held the truth keeps its models, keys and members only in
 * SQLite. The first time the new version changes (or attaches) such a group, this is published as revision 1.
 */
import type { GroupState, StateKey, StateMember, StateModel, StateVersion } from '../../../../shared/group-state';
import type { VersionRow } from '../deploy/store';
import type { ServerRegistry } from '../servers/registry';
import type { Db } from '../store/database';


/** The group's state as this data folder alone knows it; `content` says whether there is anything to publish. */
export function stateFromLocalCache(db: Db, registry: ServerRegistry, groupName: string): { state: GroupState; content: boolean } {
  const group = registry.group(groupName);
  const uidOf = (serverId: number) => registry.get(serverId).uid!;
  const servers = group.serverIds.map((id) => registry.get(id)).map((s) => ({ uid: s.uid!, name: s.name, host: s.host, port: s.port }));
  const modelRows = db
    .prepare<[number], { id: number; name: string; public: number; keep_versions: number; created_at: string }>(
      `SELECT DISTINCT m.* FROM models m JOIN versions v ON v.model_id = m.id JOIN placements p ON p.version_id = v.id
       WHERE m.group_name IS NULL AND p.group_id = ?`,
    )
    .all(group.id);
  const models: Record<string, StateModel> = {};
  for (const m of modelRows) {
    const versions = db.prepare<[number], VersionRow>('SELECT * FROM versions WHERE model_id = ? ORDER BY number').all(m.id).map((v) => versionOf(db, v, uidOf));
    const aliases = db
      .prepare<[number], { alias: string; number: number }>('SELECT a.alias, v.number FROM aliases a JOIN versions v ON v.id = a.version_id WHERE a.model_id = ?')
      .all(m.id);
    models[m.name] = {
      public: m.public === 1,
      keepVersions: m.keep_versions,
      createdBy: versions[0]?.createdBy ?? 'unknown',
      createdAt: m.created_at,
      versions,
      aliases: Object.fromEntries(aliases.map((a) => [a.alias, a.number])),
    };
  }
  const keys = legacyKeys(db, Object.keys(models));
  const members = legacyMembers(db);
  // A group created here with HTTPS (every new group) or bound to its servers' addresses says so from its first revision.
  const gateway = { ...(group.tls === 'https' ? { tls: group.tls } : {}), ...(group.listen === 'host' ? { listen: group.listen } : {}) };
  const state: GroupState = { servers, settings: { replicas: group.replicas, webhooks: [], ...gateway }, models, keys, members };
  return { state, content: modelRows.length + keys.length + members.length > 0 };
}

function versionOf(db: Db, v: VersionRow, uidOf: (serverId: number) => string): StateVersion {
  const placements = db.prepare<[number], { server_id: number; replicas: string }>('SELECT server_id, replicas FROM placements WHERE version_id = ?').all(v.id);
  const replicas = placements.map((p) => JSON.parse(p.replicas) as Array<{ name: string; port: number; standsInFor?: number }>);
  return {
    number: v.number,
    imageRef: v.image_ref,
    imageId: v.image_id,
    notebookHash: v.notebook_hash,
    dockerfile: v.dockerfile,
    requirements: v.requirements,
    createdBy: v.created_by,
    createdAt: v.created_at,
    state: v.state,
    resources: { replicas: Math.max(1, ...replicas.map((r) => r.length)), memoryMb: 512, cpus: 1 },
    placements: Object.fromEntries(
      placements.map((p, i) => [uidOf(p.server_id), replicas[i].map((r) => ({ name: r.name, port: r.port, ...(r.standsInFor ? { standsInFor: uidOf(r.standsInFor) } : {}) }))]),
    ),
  };
}

/** Keys made before groups held them: a key for one model goes with that model's group, an all-models key with the first group published. */
function legacyKeys(db: Db, models: string[]): StateKey[] {
  const rows = db
    .prepare<[], { id: string; name: string; sha256: string; scope: string; expires_at: string | null; created_by: string; created_at: string; revoked_at: string | null; revoked_by: string | null }>(
      'SELECT * FROM api_keys WHERE group_name IS NULL ORDER BY id',
    )
    .all();
  return rows
    .map((r) => ({ ...r, scope: JSON.parse(r.scope) as StateKey['scope'] }))
    .filter((r) => r.scope.kind === 'all' || models.includes(r.scope.model))
    .map((r) => ({
      id: r.id,
      name: r.name,
      sha256: r.sha256,
      scope: r.scope,
      expiresAt: r.expires_at,
      createdBy: r.created_by,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
      revokedBy: r.revoked_by,
    }));
}

function legacyMembers(db: Db): StateMember[] {
  return db
    .prepare<[], { id: string; name: string; role: StateMember['role']; public_key: string; key_type: string; fingerprint: string; created_at: string; updated_at: string }>(
      'SELECT * FROM members WHERE group_name IS NULL ORDER BY id',
    )
    .all()
    .map((r) => ({ id: r.id, name: r.name, role: r.role, publicKey: r.public_key, keyType: r.key_type, fingerprint: r.fingerprint, createdAt: r.created_at, updatedAt: r.updated_at }));
}
