import { useState } from 'react';
import { AlertBadge } from '../alerts/AlertBadge';
import { HealthView } from '../alerts/HealthView';
import { LiveLogs } from './LiveLogs';
import { RequestsView } from './RequestsView';

const tabs = [
  { id: 'live', label: 'Live logs' },
  { id: 'requests', label: 'Requests' },
  { id: 'health', label: 'Health & alerts' },
] as const;
type Tab = (typeof tabs)[number]['id'];

/** Logs and monitoring: live container logs, the searchable inference records, server health and alerts. */
export function LogsPage() {
  const [tab, setTab] = useState<Tab>('live');
  return (
    <div className="obs">
      <div className="row">
        <h1>Logs</h1>
        <span className="spacer" />
        <div className="obs-tabs" role="tablist">
          {tabs.map((t) => (
            <button key={t.id} role="tab" aria-selected={tab === t.id} className={tab === t.id ? 'active' : undefined} onClick={() => setTab(t.id)}>
              {t.label}
              {t.id === 'health' && <AlertBadge />}
            </button>
          ))}
        </div>
      </div>
      {tab === 'live' && <LiveLogs />}
      {tab === 'requests' && <RequestsView />}
      {tab === 'health' && <HealthView />}
    </div>
  );
}
