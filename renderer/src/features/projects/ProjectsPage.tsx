import { useEffect } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { DropZone } from './DropZone';
import { useProjects } from './store';

export function ProjectsPage() {
  const { recent, current, error, loadRecent, open, forget, dismissError } = useProjects();
  useEffect(() => void loadRecent(), [loadRecent]);

  return (
    <div className="projects">
      <h1>Projects</h1>
      <ErrorBanner error={error} onDismiss={dismissError} />
      <DropZone onPath={(path) => void open(path)} />
      {current && (
        <section className="card" data-testid="current-project">
          <h2>{current.name}</h2>
          <div className="muted">{current.path}</div>
        </section>
      )}
      <section>
        <h2>Recent projects</h2>
        {recent.length === 0 ? (
          <p className="muted">Nothing opened yet. Drop your first notebook project above to package it as a model server.</p>
        ) : (
          <ul className="list" data-testid="recent-projects">
            {recent.map((p) => (
              <li key={p.id} className="list-row">
                <button className="link" onClick={() => void open(p.path)} title={p.path}>
                  {p.name}
                </button>
                <span className="muted">{p.kind === 'notebook' ? 'notebook' : 'folder'} · {p.path}</span>
                <span className="spacer" />
                <span className="muted">{new Date(p.openedAt).toLocaleString()}</span>
                <button className="link" aria-label={`Forget ${p.name}`} onClick={() => void forget(p.id)}>
                  Forget
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
