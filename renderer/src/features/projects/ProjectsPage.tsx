import { useEffect, useState } from 'react';
import type { BerthError } from '../../../../shared/errors';
import { ErrorBanner } from '../../components/ErrorBanner';
import { DropZone } from './DropZone';
import { openExampleProject } from './example';
import { usePackaging } from './packaging-store';
import { ProjectView } from './ProjectView';
import { RecentProjects } from './RecentProjects';
import { useProjects } from './store';

export function ProjectsPage() {
  const { current, error, loadRecent, open, dismissError } = useProjects();
  const load = usePackaging((s) => s.load);
  const [exampleError, setExampleError] = useState<BerthError>();
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
      <ErrorBanner error={exampleError} onDismiss={() => setExampleError(undefined)} />
      <DropZone compact={current !== undefined} onPath={(path) => void openProject(path)} />
      {!current && (
        <p className="row">
          <span className="muted">No notebook at hand? Berth ships a small scikit-learn project that needs nothing from the internet.</span>
          <button onClick={() => void openExampleProject().then(() => setExampleError(undefined), setExampleError)}>Open the example project</button>
        </p>
      )}
      {current && <ProjectView project={current} />}
      <RecentProjects onOpen={(path) => void openProject(path)} />
    </div>
  );
}
