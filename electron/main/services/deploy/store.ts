import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';
import { thisProcess, type ProcessOwner } from '../store/process-owner';
import type { Replica } from './replicas';

export interface ModelRow {
  id: number;
  name: string;
  project_path: string | null;
  public: 0 | 1;
  keep_versions: number;
  created_at: string;
  /** The group whose state holds the model (null: from a data folder not yet published). */
  group_name: string | null;
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
  message: string | null;
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
  /** The process running it (JSON ProcessOwner; null: recorded before Berth kept it). */
  owner: string | null;
}

/**
 * Models, versions, where they run and aliases, as cached from the group states (services/groups writes them),
 * and this Berth's own operation journal.
 */
export function createDeployStore(db: Db, now: () => Date = () => new Date()) {
  const q = {
    modelByName: db.prepare<[string], ModelRow>('SELECT * FROM models WHERE name = ?'),
    models: db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY name'),
    versions: db.prepare<[number], VersionRow>('SELECT * FROM versions WHERE model_id = ? ORDER BY number DESC'),
    version: db.prepare<[number], VersionRow>('SELECT * FROM versions WHERE id = ?'),
    versionByNumber: db.prepare<[number, number], VersionRow>('SELECT * FROM versions WHERE model_id = ? AND number = ?'),
    placements: db.prepare<[number], { version_id: number; server_id: number; group_id: number; replicas: string }>(
      'SELECT * FROM placements WHERE version_id = ? ORDER BY server_id',
    ),
    setProjectPath: db.prepare('UPDATE models SET project_path = ? WHERE name = ?'),
    placementsOnServer: db.prepare<[number], { version_id: number; server_id: number; group_id: number; replicas: string }>(
      'SELECT * FROM placements WHERE server_id = ?',
    ),
    aliases: db.prepare<[number], { alias: string; version_id: number }>('SELECT alias, version_id FROM aliases WHERE model_id = ? ORDER BY alias'),
    insertOperation: db.prepare<Record<string, unknown>, OperationRow>(
      `INSERT INTO operations (kind, model_id, version_id, group_id, actor, state, journal, started_at, owner)
       VALUES (@kind, @modelId, @versionId, @groupId, @actor, 'running', @journal, @startedAt, @owner) RETURNING *`,
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
    placements: (versionId: number) => q.placements.all(versionId).map(toPlacement),
    placementsOnServer: (serverId: number) => q.placementsOnServer.all(serverId).map(toPlacement),
    /** Where each version of a model runs, by version number (from the cache). */
    placementsOfModel(name: string): Map<number, Placement[]> {
      const row = q.modelByName.get(name);
      return new Map((row ? q.versions.all(row.id) : []).map((v) => [v.number, q.placements.all(v.id).map(toPlacement)]));
    },
    setProjectPath: (name: string, path: string) => void q.setProjectPath.run(path, name),
    aliases: (modelId: number) => q.aliases.all(modelId),
    /** Recorded as this process's (`owner`), so another Berth on the folder leaves it alone while this one runs. */
    startOperation: (op: { kind: OperationKind; modelId: number; versionId: number | null; groupId: number | null; actor: string; journal?: unknown; owner?: ProcessOwner }) =>
      q.insertOperation.get({ ...op, journal: JSON.stringify(op.journal ?? {}), startedAt: now().toISOString(), owner: JSON.stringify(op.owner ?? thisProcess()) })!,
    journal: (operationId: number, journal: unknown) => void q.setJournal.run(JSON.stringify(journal), operationId),
    finishOperation: (operationId: number, state: OperationRow['state'], error: string | null = null) =>
      void q.finishOperation.run(state, error, now().toISOString(), operationId),
    runningOperations: () => q.runningOperations.all(),
    operations: (modelId: number, limit = 50) => q.operations.all(modelId, limit),
  };
}
export type DeployStore = ReturnType<typeof createDeployStore>;
