import { useProjects } from './store';

export function RecentProjects({ onOpen }: { onOpen: (path: string) => void }) {
  const { recent, forget } = useProjects();
  return (
    <section>
      <h2>Recent projects</h2>
      {recent.length === 0 ? (
        <p className="muted">Nothing opened yet. Drop your first notebook project above to package it as a model server.</p>
      ) : (
        <ul className="list" data-testid="recent-projects">
          {recent.map((p) => (
            <li key={p.id} className="list-row">
              <button className="link" onClick={() => onOpen(p.path)} title={p.path}>
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
  );
}
