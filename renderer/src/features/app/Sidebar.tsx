import { AlertBadge } from '../alerts/AlertBadge';
import { pages, useApp, type Page } from './store';

const labels: Record<Page, { label: string; icon: string }> = {
  projects: { label: 'Projects', icon: '▤' },
  servers: { label: 'Servers', icon: '▥' },
  deployments: { label: 'Deployments', icon: '⇪' },
  logs: { label: 'Logs', icon: '☰' },
  access: { label: 'Access', icon: '⊛' },
  settings: { label: 'Settings', icon: '⚙' },
};

export function Sidebar() {
  const current = useApp((s) => s.page);
  const go = useApp((s) => s.go);
  return (
    <nav className="sidebar" aria-label="Main">
      <div className="brand">
        <span className="brand-mark">⚓</span> Berth
      </div>
      <ul>
        {pages.map((page) => (
          <li key={page}>
            <button
              className={page === current ? 'nav-item active' : 'nav-item'}
              aria-current={page === current ? 'page' : undefined}
              onClick={() => go(page)}
            >
              <span className="nav-icon" aria-hidden>
                {labels[page].icon}
              </span>
              {labels[page].label}
              {/* Open alerts show on every page, where the health view that lists them lives. */}
              {page === 'logs' && <AlertBadge />}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
