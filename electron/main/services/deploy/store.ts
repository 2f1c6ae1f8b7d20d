import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';
import type { Replica } from './replicas';

export interface ModelRow {
  id: number;
  name: string;
  project_path: string | null;
  public: 0 | 1;
  keep_versions: number;
  created_at: string;
}

export type VersionState = 'pending' | 'live' | 'stopped' | 'retired' | 'failed';

export interface VersionRow {
  id: number;
  model_id: number;
  number: number;
  image_ref: string;
  image_id: string;
  notebook_hash: string | null;
  dockerfile: string | null;
  requirements: string | null;
  created_by: string;
  created_at: string;
  state: VersionState;
}

export interface Placement {
  versionId: number;
  serverId: number;
  groupId: number;
  replicas: Replica[];
}

export type OperationKind = 'deploy' | 'rollback' | 'alias' | 'start' | 'stop' | 'recover';

export interface OperationRow {
  id: number;
  kind: OperationKind;
  model_id: number;
  version_id: number | null;
  group_id: number | null;
  actor: string;
  state: 'running' | 'succeeded' | 'failed' | 'undone';
  journal: string;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

/** Models, versions, where they run, aliases and the operation journal, in SQLite. */
export function createDeployStore(db: Db, now: () => Date = () => new Date()) {
  const q = {
    modelByName: db.prepare<[string], ModelRow>('SELECT * FROM models WHERE name = ?'),
    models: db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY name'),
    insertModel: db.prepare<[string, string | null, string], ModelRow>(
      'INSERT INTO models (name, project_path, created_at) VALUES (?, ?, ?) RETURNING *',
    ),
    setPublic: db.prepare('UPDATE models SET public = ? WHERE id = ?'),
    setKeep: db.prepare('UPDATE models SET keep_versions = ? WHERE id = ?'),
    versions: db.prepare<[number], VersionRow>('SELECT * FROM versions WHERE model_id = ? ORDER BY number DESC'),
    version: db.prepare<[number], VersionRow>('SELECT * FROM versions WHERE id = ?'),
    versionByNumber: db.prepare<[number, number], VersionRow>('SELECT * FROM versions WHERE model_id = ? AND number = ?'),
    nextNumber: db.prepare<[number], { next: number }>('SELECT COALESCE(MAX(number), 0) + 1 AS next FROM versions WHERE model_id = ?'),
    insertVersion: db.prepare<Record<string, unknown>, VersionRow>(
      `INSERT INTO versions (model_id, number, image_ref, image_id, notebook_hash, dockerfile, requirements, created_by, created_at, state)
       VALUES (@modelId, @number, @imageRef, @imageId, @notebookHash, @dockerfile, @requirements, @createdBy, @createdAt, @state) RETURNING *`,
    ),
    setVersionState: db.prepare('UPDATE versions SET state = ? WHERE id = ?'),
    placements: db.prepare<[number], { version_id: number; server_id: number; group_id: number; replicas: string }>(
      'SELECT * FROM placements WHERE version_id = ? ORDER BY server_id',
    ),
    placementsOnServer: db.prepare<[number], { version_id: number; server_id: number; group_id: number; replicas: string }>(
      'SELECT * FROM placements WHERE server_id = ?',
    ),
    upsertPlacement: db.prepare(
      `INSERT INTO placements (version_id, server_id, group_id, replicas) VALUES (?, ?, ?, ?)
       ON CONFLICT(version_id, server_id) DO UPDATE SET replicas = excluded.replicas, group_id = excluded.group_id`,
    ),
    deletePlacement: db.prepare('DELETE FROM placements WHERE version_id = ? AND server_id = ?'),
    aliases: db.prepare<[number], { alias: string; version_id: number }>('SELECT alias, version_id FROM aliases WHERE model_id = ? ORDER BY alias'),
    setAlias: db.prepare(
      'INSERT INTO aliases (model_id, alias, version_id) VALUES (?, ?, ?) ON CONFLICT(model_id, alias) DO UPDATE SET version_id = excluded.version_id',
    ),
    deleteAlias: db.prepare('DELETE FROM aliases WHERE model_id = ? AND alias = ?'),
    insertOperation: db.prepare<Record<string, unknown>, OperationRow>(
      `INSERT INTO operations (kind, model_id, version_id, group_id, actor, state, journal, started_at)
       VALUES (@kind, @modelId, @versionId, @groupId, @actor, 'running', @journal, @startedAt) RETURNING *`,
    ),
    setJournal: db.prepare('UPDATE operations SET journal = ? WHERE id = ?'),
    finishOperation: db.prepare('UPDATE operations SET state = ?, error = ?, finished_at = ? WHERE id = ?'),
    runningOperations: db.prepare<[], OperationRow>("SELECT * FROM operations WHERE state = 'running' ORDER BY id"),
    operations: db.prepare<[number, number], OperationRow>('SELECT * FROM operations WHERE model_id = ? ORDER BY id DESC LIMIT ?'),
  };

  const toPlacement = (row: { version_id: number; server_id: number; group_id: number; replicas: string }): Placement => ({
    versionId: row.version_id,
    serverId: row.server_id,
    groupId: row.group_id,
    replicas: JSON.parse(row.replicas),
  });

  function model(name: string): ModelRow {
    const row = q.modelByName.get(name);
    if (!row) throw new BerthError('NotFound', `No model named "${name}" has been deployed`);
    return row;
  }

  return {
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    models: () => q.models.all(),
    model,
    findModel: (name: string) => q.modelByName.get(name) ?? null,
    ensureModel: (name: string, projectPath: string | null) => q.modelByName.get(name) ?? q.insertModel.get(name, projectPath, now().toISOString())!,
    setPublic: (modelId: number, isPublic: boolean) => void q.setPublic.run(isPublic ? 1 : 0, modelId),
    setKeepVersions: (modelId: number, keep: number) => void q.setKeep.run(keep, modelId),
    versions: (modelId: number) => q.versions.all(modelId),
    version(id: number): VersionRow {
      const row = q.version.get(id);
      if (!row) throw new BerthError('NotFound', `Version ${id} does not exist`);
      return row;
    },
    versionByNumber(modelId: number, number: number): VersionRow {
      const row = q.versionByNumber.get(modelId, number);
      if (!row) throw new BerthError('NotFound', `Version v${number} does not exist`);
      return row;
    },
    nextVersionNumber: (modelId: number) => q.nextNumber.get(modelId)!.next,
    insertVersion: (v: {
      modelId: number;
      number: number;
      imageRef: string;
      imageId: string;
      notebookHash: string | null;
      dockerfile: string | null;
      requirements: string | null;
      createdBy: string;
      state: VersionState;
    }) => q.insertVersion.get({ ...v, createdAt: now().toISOString() })!,
    setVersionState: (id: number, state: VersionState) => void q.setVersionState.run(state, id),
    placements: (versionId: number) => q.placements.all(versionId).map(toPlacement),
    placementsOnServer: (serverId: number) => q.placementsOnServer.all(serverId).map(toPlacement),
    setPlacement: (p: Placement) => void q.upsertPlacement.run(p.versionId, p.serverId, p.groupId, JSON.stringify(p.replicas)),
    deletePlacement: (versionId: number, serverId: number) => void q.deletePlacement.run(versionId, serverId),
    aliases: (modelId: number) => q.aliases.all(modelId),
    setAlias: (modelId: number, alias: string, versionId: number) => void q.setAlias.run(modelId, alias, versionId),
    deleteAlias: (modelId: number, alias: string) => void q.deleteAlias.run(modelId, alias),
    startOperation: (op: { kind: OperationKind; modelId: number; versionId: number | null; groupId: number | null; actor: string; journal?: unknown }) =>
      q.insertOperation.get({ ...op, journal: JSON.stringify(op.journal ?? {}), startedAt: now().toISOString() })!,
    journal: (operationId: number, journal: unknown) => void q.setJournal.run(JSON.stringify(journal), operationId),
    finishOperation: (operationId: number, state: OperationRow['state'], error: string | null = null) =>
      void q.finishOperation.run(state, error, now().toISOString(), operationId),
    runningOperations: () => q.runningOperations.all(),
    operations: (modelId: number, limit = 50) => q.operations.all(modelId, limit),
  };
}
export type DeployStore = ReturnType<typeof createDeployStore>;
