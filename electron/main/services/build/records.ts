import type { BuildRecord, BuildStatus, SmokeResult } from '../../../../shared/build';
import type { Db } from '../store/database';

interface BuildRow {
  id: number;
  project_path: string;
  project: string;
  image_tag: string | null;
  image_id: string | null;
  notebook_hash: string;
  context_hash: string | null;
  dockerfile: string;
  requirements: string;
  status: BuildStatus;
  smoke: string | null;
  size_bytes: number | null;
  duration_ms: number | null;
  platform: string | null;
  built_on: number | null;
  error: string | null;
  created_at: string;
}

export interface NewBuild {
  projectPath: string;
  project: string;
  imageTag: string | null;
  imageId: string | null;
  notebookHash: string;
  contextHash: string | null;
  dockerfile: string;
  requirements: string;
  status: BuildStatus;
  sizeBytes: number | null;
  durationMs: number | null;
  /** What the image is for; absent: not known (no image, or a record made without it). */
  platform?: string | null;
  /** The server that built it (a remote build); absent or null: this machine. */
  builtOn?: number | null;
  error: { kind: string; message: string } | null;
}

function toRecord(row: BuildRow): BuildRecord {
  const smoke = row.smoke ? (JSON.parse(row.smoke) as SmokeResult) : null;
  return {
    id: row.id,
    projectPath: row.project_path,
    project: row.project,
    imageTag: row.image_tag,
    imageId: row.image_id,
    notebookHash: row.notebook_hash,
    contextHash: row.context_hash,
    dockerfile: row.dockerfile,
    requirements: row.requirements,
    status: row.status,
    smoke,
    deployable: row.status === 'succeeded' && smoke?.status === 'passed',
    sizeBytes: row.size_bytes,
    durationMs: row.duration_ms,
    platform: row.platform,
    builtOn: row.built_on,
    error: row.error ? JSON.parse(row.error) : null,
    createdAt: row.created_at,
  };
}

/** Every local build, newest first; a build is deployable only when its smoke test passed. */
export function createBuildRecords(db: Db, now: () => Date = () => new Date()) {
  const insert = db.prepare(
    `INSERT INTO builds (project_path, project, image_tag, image_id, notebook_hash, context_hash, dockerfile, requirements,
                         status, size_bytes, duration_ms, platform, built_on, error, created_at)
     VALUES (@projectPath, @project, @imageTag, @imageId, @notebookHash, @contextHash, @dockerfile, @requirements,
             @status, @sizeBytes, @durationMs, @platform, @builtOn, @error, @createdAt)`,
  );
  const updateSmoke = db.prepare<[string, number]>('UPDATE builds SET smoke = ? WHERE id = ?');
  const byId = db.prepare<[number], BuildRow>('SELECT * FROM builds WHERE id = ?');
  const all = db.prepare<[number], BuildRow>('SELECT * FROM builds ORDER BY created_at DESC, id DESC LIMIT ?');
  const forProject = db.prepare<[string, number], BuildRow>('SELECT * FROM builds WHERE project_path = ? ORDER BY created_at DESC, id DESC LIMIT ?');

  return {
    add(build: NewBuild): BuildRecord {
      const { lastInsertRowid } = insert.run({ platform: null, builtOn: null, ...build, error: build.error ? JSON.stringify(build.error) : null, createdAt: now().toISOString() });
      return toRecord(byId.get(Number(lastInsertRowid))!);
    },
    setSmoke(id: number, smoke: SmokeResult): BuildRecord {
      updateSmoke.run(JSON.stringify(smoke), id);
      return toRecord(byId.get(id)!);
    },
    get: (id: number): BuildRecord | null => {
      const row = byId.get(id);
      return row ? toRecord(row) : null;
    },
    list: (projectPath?: string, limit = 50): BuildRecord[] => (projectPath ? forProject.all(projectPath, limit) : all.all(limit)).map(toRecord),
  };
}
export type BuildRecords = ReturnType<typeof createBuildRecords>;
