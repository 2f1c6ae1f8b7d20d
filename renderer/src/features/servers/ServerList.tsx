import type { ServerView } from '../../../../shared/servers';
import { formatBytes } from './format';
import { LoginBadge } from './LoginBadge';
import { useServers } from './store';

function Facts({ server }: { server: ServerView }) {
  const f = server.facts;
  if (!f) return <span className="muted">not tested yet</span>;
  return (
    <span>
      Docker {f.engineVersion} · {f.arch} · {f.cpus} CPU · {formatBytes(f.memoryBytes)} RAM · {formatBytes(f.diskFreeBytes)} free
      {f.gpus.length > 0 && ` · ${f.gpus.join(', ')}`}
    </span>
  );
}

export function ServerList() {
  const { servers, busy, test, remove, forget, forgetReport } = useServers();
  return (
    <>
      {forgetReport && (
        <pre className="notice small" data-testid="forget-report">
          {forgetReport.join('\n')}
        </pre>
      )}
      <table className="table" data-testid="server-list">
        <thead>
          <tr>
            <th>Server</th>
            <th>State</th>
            <th>Engine</th>
            <th>Groups</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {servers.map((server) => (
            <tr key={server.id} data-server={server.name}>
              <td>
                <strong>{server.name}</strong>
                {server.local ? (
                  <div className="muted">This computer: its own Docker engine, no SSH; endpoints on {server.host} only</div>
                ) : (
                  <>
                    <div className="muted mono">
                      {server.username}@{server.host}:{server.port}
                    </div>
                    <div className="muted mono small" title="Pinned host key">
                      {server.hostKeyFingerprint}
                    </div>
                  </>
                )}
              </td>
              <td>
                <span className={`pill ${server.state}`}>{server.state}</span>
                <LoginBadge login={server.login} />
                {server.lastError && <div className="bad small">{server.lastError}</div>}
              </td>
              <td>
                <Facts server={server} />
              </td>
              <td>{server.groups.join(', ') || <span className="muted">none</span>}</td>
              <td className="actions">
                <button onClick={() => void test(server.id)} disabled={busy}>
                  Test
                </button>
                <button className="link" onClick={() => void remove(server.id)} disabled={busy} aria-label={`Remove ${server.name}`}>
                  Remove
                </button>
                {server.state === 'down' && (
                  <button
                    className="link bad"
                    onClick={() => void forget(server.id)}
                    disabled={busy}
                    aria-label={`Forget ${server.name}`}
                    title="Gone for good: it leaves its groups, its replicas are no longer placed, and it is removed"
                  >
                    Forget
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
