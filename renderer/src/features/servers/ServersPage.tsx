import { useEffect, useState } from 'react';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { AddServerForm } from './AddServerForm';
import { GroupsPanel } from './GroupsPanel';
import { ServerList } from './ServerList';
import { SwitchKeyForm } from './SwitchKeyForm';
import { useServers } from './store';

export function ServersPage() {
  const { servers, error, busy, load, addThisComputer, dismissError } = useServers();
  const hasThisComputer = servers.some((s) => s.local);
  const [adding, setAdding] = useState(false);
  useEffect(() => void load(), [load]);

  return (
    <div className="servers">
      <div className="row">
        <h1>Servers</h1>
        <span className="spacer" />
        {!hasThisComputer && (
          <button onClick={() => void addThisComputer()} disabled={busy} title="Deploy to this computer's own Docker engine: no SSH, endpoints on 127.0.0.1 only">
            Use this computer
          </button>
        )}
        {!adding && (
          <button className="primary" onClick={() => setAdding(true)}>
            Add server
          </button>
        )}
      </div>
      <ErrorBanner error={error} onDismiss={dismissError} />
      {adding && <AddServerForm onDone={() => setAdding(false)} />}
      {servers.length === 0 && !adding ? (
        <EmptyState title="No servers yet" action={<button className="primary" onClick={() => setAdding(true)}>Add your first server</button>}>
          <p>Berth deploys to your own Linux servers over SSH. Each needs Docker and an account you can log in to with a key.</p>
          <p>Register at least two servers so your model stays up when one dies, then put them in a group such as “prod”.</p>
          <p>To try Berth first, “Use this computer” deploys to this computer’s own Docker engine, on 127.0.0.1 only.</p>
        </EmptyState>
      ) : (
        servers.length > 0 && (
          <>
            <ServerList />
            <GroupsPanel />
            <SwitchKeyForm />
          </>
        )
      )}
    </div>
  );
}
