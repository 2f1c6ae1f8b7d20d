import { stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type { RecentProject } from '../../../../shared/types';
import type { ProjectsRepo } from '../store/projects';

/** Opening a project: the path must be a folder or a single .ipynb; it is remembered in the recent list. */
export function createRecentProjects(repo: ProjectsRepo) {
  async function open(rawPath: string): Promise<RecentProject> {
    const path = resolve(rawPath);
    const info = await stat(path).catch(() => {
      throw new BerthError('NotFound', `Nothing at ${path}: drop a project folder or a .ipynb notebook`);
    });
    if (info.isDirectory()) return repo.touch(path, basename(path), 'folder');
    if (info.isFile() && extname(path).toLowerCase() === '.ipynb') return repo.touch(path, basename(path, '.ipynb'), 'notebook');
    throw new BerthError('ProjectInvalid', `${basename(path)} is neither a folder nor a .ipynb notebook: drop the project's folder instead`);
  }

  return { open, recent: repo.recent, forget: (id: number) => (repo.forget(id), repo.recent()) };
}
