import { useEffect, useState } from 'react';
import { auditActions, type AuditVerification } from '../../../../shared/access';
import { formatTime } from './format';
import { useAccess } from './store';

/** "Chain verified" in green, or where each copy of the log was tampered with, in red. */
function VerificationBanner({ result, verifying }: { result?: AuditVerification; verifying: boolean }) {
  if (!result) return <div className="chain-banner pending">{verifying ? 'Verifying the hash chain…' : 'Not verified yet'}</div>;
  const copies = [{ name: 'Berth’s database', ...result.local }, ...result.servers.map((s) => ({ name: s.server, ...s }))];
  const broken = copies.filter((c) => !c.ok && !('error' in c && c.error));
  const unreachable = result.servers.filter((s) => s.error);
  return (
    <div className={`chain-banner ${broken.length ? 'tampered' : 'verified'}`} role="status" data-testid="chain-banner">
      {broken.length === 0 ? (
        <strong>✓ Chain verified</strong>
      ) : (
        <strong>
          ✗ Tampered: {broken.map((c) => `${c.name} at entry ${c.breaks[0].position}`).join('; ')}
        </strong>
      )}
      <ul>
        {copies.map((c) => (
          <li key={c.name} className={'error' in c && c.error ? 'warn' : c.ok ? 'ok' : 'bad'}>
            {c.name}:{' '}
            {'error' in c && c.error
              ? `not checked (${c.error})`
              : c.ok
                ? `${c.entries} entries, intact`
                : c.breaks.map((b) => b.reason).join('; ')}
          </li>
        ))}
      </ul>
      {unreachable.length > 0 && <span className="small muted">Unreachable servers are checked the next time they answer.</span>}
      <span className="small muted">Checked {formatTime(result.checkedAt)}</span>
    </div>
  );
}

export function AuditPanel() {
  const { audit, auditFilter, loadAudit, verify, verification, verifying, busy } = useAccess();
  const [actor, setActor] = useState(auditFilter.actor ?? '');
  const [action, setAction] = useState(auditFilter.action ?? '');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');

  useEffect(() => {
    void loadAudit();
    void verify();
  }, [loadAudit, verify]);

  function apply(e: React.FormEvent) {
    e.preventDefault();
    void loadAudit({
      actor: actor || undefined,
      action: action || undefined,
      since: since ? new Date(since).toISOString() : undefined,
      until: until ? new Date(until).toISOString() : undefined,
    });
  }

  return (
    <div className="audit-panel">
      <div className="row">
        <VerificationBanner result={verification} verifying={verifying} />
        <span className="spacer" />
        <button onClick={() => void verify()} disabled={verifying}>
          Verify chain
        </button>
      </div>
      <form className="row wrap audit-filter" onSubmit={apply} aria-label="Filter the audit log">
        <input aria-label="Who" placeholder="who (member or OS user)" value={actor} onChange={(e) => setActor(e.target.value)} />
        <select aria-label="What" value={action} onChange={(e) => setAction(e.target.value)}>
          <option value="">every action</option>
          {['key', 'member', 'server', ...auditActions].map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <label className="small">
          from <input aria-label="From" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label className="small">
          to <input aria-label="To" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Filter
        </button>
      </form>
      {audit.length === 0 ? (
        <p className="muted">Nothing recorded{auditFilter.actor || auditFilter.action ? ' that matches' : ' yet'}.</p>
      ) : (
        <table className="table" data-testid="audit-list">
          <thead>
            <tr>
              <th>#</th>
              <th>When</th>
              <th>Who</th>
              <th>What</th>
              <th>Target</th>
              <th>Result</th>
              <th>Copies</th>
            </tr>
          </thead>
          <tbody>
            {audit.map((e) => (
              <tr key={e.seq} data-seq={e.seq} data-action={e.action}>
                <td className="mono small">{e.seq}</td>
                <td className="small">{formatTime(e.at)}</td>
                <td>
                  {e.actor}
                  <div className="muted small">{e.machine}</div>
                </td>
                <td className="mono">{e.action}</td>
                <td title={JSON.stringify(e.details, null, 2)}>{e.target}</td>
                <td>
                  <span className={`pill result-${e.result}`}>{e.result}</span>
                </td>
                <td className="small">
                  {e.deliveries.length === 0 && <span className="muted">local only</span>}
                  {e.deliveries.map((d) => (
                    <span key={d.serverId} className={d.state === 'delivered' ? 'ok' : d.state === 'failed' ? 'bad' : 'muted'} title={d.error ?? ''}>
                      {d.server}{' '}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
