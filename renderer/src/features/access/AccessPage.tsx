import { useEffect } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { AuditPanel } from './AuditPanel';
import { KeysPanel } from './KeysPanel';
import { LocksPanel } from './LocksPanel';
import { useAccess, type AccessTab } from './store';
import { TeamPanel } from './TeamPanel';
import { YourRights } from './YourRights';

const tabs: { id: AccessTab; label: string }[] = [
  { id: 'keys', label: 'API keys' },
  { id: 'team', label: 'Team' },
  { id: 'audit', label: 'Audit log' },
  { id: 'locks', label: 'Deploy locks' },
];

/** Who may call the models (API keys), who may change them (team roles, enforced on the servers), and what happened. */
export function AccessPage() {
  const { tab, setTab, error, dismissError, loadKeys, loadTeam } = useAccess();
  useEffect(() => {
    void loadKeys();
    void loadTeam();
  }, [loadKeys, loadTeam]);

  return (
    <div className="access">
      <h1>Access</h1>
      <YourRights />
      <div className="tabs" role="tablist" aria-label="Access">
        {tabs.map((t) => (
          <button key={t.id} role="tab" aria-selected={tab === t.id} className={tab === t.id ? 'tab active' : 'tab'} onClick={() => setTab(t.id)}>
            {t.label}
          </button>
        ))}
      </div>
      <ErrorBanner error={error} onDismiss={dismissError} />
      <div role="tabpanel">
        {tab === 'keys' && <KeysPanel />}
        {tab === 'team' && <TeamPanel />}
        {tab === 'audit' && <AuditPanel />}
        {tab === 'locks' && <LocksPanel />}
      </div>
    </div>
  );
}
