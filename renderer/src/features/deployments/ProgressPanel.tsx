import { formatBytes } from '../servers/format';
import { useDeployments } from './store';

export function ProgressPanel() {
  const { progress, log, running } = useDeployments();
  const rows = Object.values(progress);
  if (rows.length === 0 && log.length === 0) return null;
  return (
    <section className="card" aria-label="Progress" data-testid="deploy-progress">
      <h2>{running ? 'In progress' : 'Last operation'}</h2>
      <table className="table">
        <tbody>
          {rows.map((row) => (
            <tr key={row.server} data-server={row.server}>
              <td>
                <strong>{row.server}</strong>
              </td>
              <td>
                <span className={`pill phase-${row.phase}`}>{row.phase}</span>
              </td>
              <td>
                {row.message}
                {row.bytesTotal ? (
                  <div className="progress">
                    <div style={{ width: `${Math.min(100, ((row.bytesSent ?? 0) / row.bytesTotal) * 100)}%` }} />
                    <span className="small muted">
                      {formatBytes(row.bytesSent ?? 0)} / {formatBytes(row.bytesTotal)}
                    </span>
                  </div>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {log.length > 0 && (
        <ul className="small muted">
          {log.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
    </section>
  );
}
