import type { RecentProject } from '../../../../shared/types';
import { call } from '../../api/client';
import { usePackaging } from './packaging-store';
import { useProjects } from './store';

/**
 * Copies the bundled example into the data folder (once) and shows it as the open project, analysed afresh like
 * any project opened from the Projects page. Throws when it cannot be copied or opened.
 */
export async function openExampleProject(): Promise<RecentProject> {
  const example = await call('projects.openExample', {});
  // The projects store holds the open project: opening the copy's path through it selects it there.
  const project = await useProjects.getState().open(example.path);
  if (!project) throw useProjects.getState().error ?? new Error(`${example.path} could not be opened`);
  await usePackaging.getState().load(project.path);
  return project;
}
