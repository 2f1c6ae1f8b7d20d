import { useEffect } from 'react';
import { useAlerts } from './store';

/** The number of open alerts (red when one is critical); for the sidebar or status bar. Starts the alert stream. */
export function AlertBadge() {
  const open = useAlerts((s) => s.open);
  const start = useAlerts((s) => s.start);
  useEffect(() => start(), [start]);
  if (open.length === 0) return null;
  const critical = open.some((a) => a.severity === 'critical');
  return (
    <span className={`obs-badge ${critical ? 'critical' : 'warning'}`} data-testid="alert-badge" title={`${open.length} open alert${open.length === 1 ? '' : 's'}`}>
      {open.length}
    </span>
  );
}
