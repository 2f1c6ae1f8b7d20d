import type { RecentProject } from '../../../../shared/types';
import type { Db } from './database';

interface ProjectRow {
  id: number;
  path: string;
  name: string;
  kind: 'folder' | 'notebook';
  opened_at: string;
}

const toRecent = (row: ProjectRow): RecentProject => ({
  id: row.id,
  path: row.path,
  name: row.name,
  kind: row.kind,
  openedAt: row.opened_at,
});

/** Recently opened projects, newest first. */
export function createProjectsRepo(db: Db, now: () => Date = () => new Date()) {
  const list = db.prepare<[], ProjectRow>('SELECT * FROM projects ORDER BY opened_at DESC, id DESC LIMIT 50');
  const touch = db.prepare<[string, string, string, string], ProjectRow>(
    `INSERT INTO projects (path, name, kind, opened_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(path) DO UPDATE SET name = excluded.name, kind = excluded.kind, opened_at = excluded.opened_at
     RETURNING *`,
  );
  const remove = db.prepare('DELETE FROM projects WHERE id = ?');

  return {
    recent: (): RecentProject[] => list.all().map(toRecent),
    touch: (path: string, name: string, kind: RecentProject['kind']): RecentProject =>
      toRecent(touch.get(path, name, kind, now().toISOString())!),
    forget: (id: number): void => void remove.run(id),
  };
}
export type ProjectsRepo = ReturnType<typeof createProjectsRepo>;
