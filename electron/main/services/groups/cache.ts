/**
 * The local SQLite as a cache of group state (design point 4): each revision read from the servers replaces what
 * this Berth knew of that group. Local ids (servers, models, versions) stay stable across refreshes, so the
 * operation journal and the UI keep their references.
 */
import type { GatewaySettings, GroupSettings, GroupState, StateFile, StateKey, StateMember, StateModel } from '../../../../shared/group-state';
import type { ServerRegistry } from '../servers/registry';
import type { Db } from '../store/database';

export function createStateCache(db: Db, registry: ServerRegistry) {
  const q = {
    ensureGroup: db.prepare("INSERT INTO server_groups (name, replicas, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING"),
    groupId: db.prepare<[string], { id: number }>('SELECT id FROM server_groups WHERE name = ?'),
    stampGroup: db.prepare(
      'UPDATE server_groups SET replicas = @replicas, state_revision = @revision, state_hash = @hash, state_by = @by, state_at = @at, refreshed_at = @refreshedAt, gateway_settings = @gateway WHERE id = @id',
    ),
    refreshed: db.prepare('UPDATE server_groups SET refreshed_at = ? WHERE name = ?'),
    stamp: db.prepare<[string], { revision: number | null; hash: string | null }>('SELECT state_revision AS revision, state_hash AS hash FROM server_groups WHERE name = ?'),
    clearMembers: db.prepare('DELETE FROM server_group_members WHERE group_id = ?'),
    addMember: db.prepare('INSERT OR IGNORE INTO server_group_members (group_id, server_id) VALUES (?, ?)'),
    upsertModel: db.prepare<Record<string, unknown>, { id: number }>(
      `INSERT INTO models (name, group_name, public, keep_versions, created_at) VALUES (@name, @group, @public, @keep, @createdAt)
       ON CONFLICT(name) DO UPDATE SET group_name = excluded.group_name, public = excluded.public, keep_versions = excluded.keep_versions
       RETURNING id`,
    ),
    upsertVersion: db.prepare<Record<string, unknown>, { id: number }>(
      `INSERT INTO versions (model_id, number, image_ref, image_id, notebook_hash, dockerfile, requirements, created_by, created_at, message, state)
       VALUES (@modelId, @number, @imageRef, @imageId, @notebookHash, @dockerfile, @requirements, @createdBy, @createdAt, @message, @state)
       ON CONFLICT(model_id, number) DO UPDATE SET image_ref = excluded.image_ref, image_id = excluded.image_id,
         notebook_hash = excluded.notebook_hash, dockerfile = excluded.dockerfile, requirements = excluded.requirements,
         created_by = excluded.created_by, created_at = excluded.created_at, message = excluded.message, state = excluded.state
       RETURNING id`,
    ),
    clearPlacements: db.prepare('DELETE FROM placements WHERE version_id = ?'),
    addPlacement: db.prepare('INSERT INTO placements (version_id, server_id, group_id, replicas) VALUES (?, ?, ?, ?)'),
    clearAliases: db.prepare('DELETE FROM aliases WHERE model_id = ?'),
    addAlias: db.prepare('INSERT INTO aliases (model_id, alias, version_id) SELECT ?, ?, id FROM versions WHERE model_id = ? AND number = ?'),
    upsertKey: db.prepare(
      `INSERT INTO api_keys (id, group_name, name, sha256, scope, expires_at, created_by, created_at, revoked_at, revoked_by)
       VALUES (@id, @group, @name, @sha256, @scope, @expiresAt, @createdBy, @createdAt, @revokedAt, @revokedBy)
       ON CONFLICT(id) DO UPDATE SET group_name = excluded.group_name, revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by,
         name = excluded.name, scope = excluded.scope, expires_at = excluded.expires_at`,
    ),
    groupKeys: db.prepare<[string], { id: string }>('SELECT id FROM api_keys WHERE group_name = ?'),
    deleteKey: db.prepare('DELETE FROM api_keys WHERE id = ?'),
    upsertMember: db.prepare(
      `INSERT INTO members (id, group_name, name, role, models, owner, public_key, key_type, fingerprint, created_at, updated_at)
       VALUES (@id, @group, @name, @role, @models, @owner, @publicKey, @keyType, @fingerprint, @createdAt, @updatedAt)
       ON CONFLICT(id) DO UPDATE SET group_name = excluded.group_name, role = excluded.role, models = excluded.models, owner = excluded.owner, updated_at = excluded.updated_at, name = excluded.name`,
    ),
    groupMembers: db.prepare<[string], { id: string }>('SELECT id FROM members WHERE group_name = ?'),
    deleteMember: db.prepare('DELETE FROM members WHERE id = ?'),
  };

  function importModel(group: string, groupId: number, name: string, model: StateModel) {
    const modelId = q.upsertModel.get({ name, group, public: model.public ? 1 : 0, keep: model.keepVersions, createdAt: model.createdAt })!.id;
    for (const v of model.versions) {
      const { placements, resources: _resources, ...fields } = v;
      const versionId = q.upsertVersion.get({ ...fields, message: fields.message ?? null, modelId })!.id;
      q.clearPlacements.run(versionId);
      for (const [uid, replicas] of Object.entries(placements)) {
        const server = registry.byUid(uid);
        // A server of the group this Berth has not registered: shown as such, not cached as a placement.
        if (server) q.addPlacement.run(versionId, server.id, groupId, JSON.stringify(replicas.map((r) => ({ ...r, standsInFor: r.standsInFor ? registry.byUid(r.standsInFor)?.id ?? -1 : undefined }))));
      }
    }
    q.clearAliases.run(modelId);
    for (const [alias, number] of Object.entries(model.aliases)) q.addAlias.run(modelId, alias, modelId, number);
  }

  function importKeys(group: string, keys: StateKey[]) {
    const wanted = new Set(keys.map((k) => k.id));
    for (const key of keys) q.upsertKey.run({ ...key, group, scope: JSON.stringify(key.scope) });
    for (const { id } of q.groupKeys.all(group)) if (!wanted.has(id)) q.deleteKey.run(id);
  }

  function importMembers(group: string, members: StateMember[]) {
    const wanted = new Set(members.map((m) => m.id));
    for (const member of members) q.upsertMember.run({ ...member, models: member.models ? JSON.stringify(member.models) : null, owner: member.owner ?? null, group });
    for (const { id } of q.groupMembers.all(group)) if (!wanted.has(id)) q.deleteMember.run(id);
  }

  /** Replaces what this Berth knows of the group with one revision read from (or just written to) its servers. */
  function importRevision(file: StateFile, refreshedAt: string): number {
    const { group, state } = file.revision;
    return db.transaction(() => {
      q.ensureGroup.run(group, state.settings.replicas, file.revision.at);
      const groupId = q.groupId.get(group)!.id;
      q.stampGroup.run({
        id: groupId,
        replicas: state.settings.replicas,
        revision: file.revision.revision,
        hash: file.hash,
        by: `${file.revision.by.holder}@${file.revision.by.machine}`,
        at: file.revision.at,
        refreshedAt,
        gateway: JSON.stringify(gatewaySettings(state.settings)),
      });
      q.clearMembers.run(groupId);
      for (const server of state.servers) {
        const local = registry.byUid(server.uid);
        if (local) q.addMember.run(groupId, local.id);
      }
      for (const [name, model] of Object.entries(state.models)) importModel(group, groupId, name, model);
      importKeys(group, state.keys);
      importMembers(group, state.members);
      return groupId;
    })();
  }

  return {
    importRevision,
    /** The revision this Berth last saw of a group (to detect a rolled-back copy). */
    lastSeen: (group: string) => q.stamp.get(group) ?? { revision: null, hash: null },
    markRefreshed: (group: string, at: string) => void q.refreshed.run(at, group),
  };
}
export type StateCache = ReturnType<typeof createStateCache>;

const gatewaySettings = ({ tls, authority, listen }: GroupSettings): GatewaySettings => ({ tls, authority, listen });

/** The servers of a group state, in the order every Berth takes their locks. */
export const serversInLockOrder = (state: Pick<GroupState, 'servers'>) => [...state.servers].sort((a, b) => a.uid.localeCompare(b.uid));
