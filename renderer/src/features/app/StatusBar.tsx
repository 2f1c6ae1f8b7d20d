import { GroupSyncStatus } from '../groups/GroupSyncStatus';
import { useApp } from './store';

export function StatusBar() {
  const status = useApp((s) => s.status);
  const error = useApp((s) => s.statusError);
  const info = useApp((s) => s.info);
  const engine = status?.engine;

  return (
    <footer className="statusbar" role="status">
      <span data-testid="engine-status" className={engine ? (engine.reachable ? 'ok' : 'bad') : 'pending'}>
        {!engine && 'Checking Docker engine…'}
        {engine?.reachable && `Docker ${engine.version}`}
        {engine && !engine.reachable && engine.message}
      </span>
      <span data-testid="servers-status">
        {status ? `${status.servers.up}/${status.servers.total} servers up` : ''}
      </span>
      <GroupSyncStatus />
      {error && <span className="bad">{error}</span>}
      <span className="spacer" />
      {info && (
        <span className="muted">
          Berth {info.version} · {info.mode} · {info.dataDir}
        </span>
      )}
    </footer>
  );
}
