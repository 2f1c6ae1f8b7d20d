import { useEffect } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { DropZone } from './DropZone';
import { usePackaging } from './packaging-store';
import { ProjectView } from './ProjectView';
import { RecentProjects } from './RecentProjects';
import { useProjects } from './store';

export function ProjectsPage() {
  const { current, error, loadRecent, open, dismissError } = useProjects();
  const load = usePackaging((s) => s.load);
  useEffect(() => void loadRecent(), [loadRecent]);

  /** Opening a project (again) always analyses it afresh: the notebook may have changed on disk. */
  async function openProject(path: string) {
    const project = await open(path);
    if (project) await load(project.path);
  }

  return (
    <div className="projects">
      <h1>Projects</h1>
      <ErrorBanner error={error} onDismiss={dismissError} />
      <DropZone compact={current !== undefined} onPath={(path) => void openProject(path)} />
      {current && <ProjectView project={current} />}
      <RecentProjects onOpen={(path) => void openProject(path)} />
    </div>
  );
}
