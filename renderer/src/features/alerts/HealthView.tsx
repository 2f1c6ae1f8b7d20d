import { useEffect, useState } from 'react';
import type { GroupView } from '../../../../shared/servers';
import type { Alert } from '../../../../shared/monitor';
import { call } from '../../api/client';
import { ErrorBanner } from '../../components/ErrorBanner';
import { ServerCard } from './ServerCard';
import { useAlerts } from './store';

const since = (iso: string) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : new Date(iso).toLocaleString();
};

function AlertItem({ alert }: { alert: Alert }) {
  return (
    <li className={`obs-alert ${alert.severity} ${alert.resolvedAt ? 'resolved' : 'open'}`} data-alert-kind={alert.kind} data-alert-subject={alert.subject}>
      <div className="row">
        <span className="obs-kind">{alert.kind.replace(/_/g, ' ')}</span>
        <strong>{alert.subject}</strong>
        <span className="spacer" />
        <span className="muted">{alert.resolvedAt ? `resolved ${since(alert.resolvedAt)}` : `since ${since(alert.openedAt)}`}</span>
      </div>
      <div>{alert.message}</div>
      {alert.resolvedMessage && <div className="ok">{alert.resolvedMessage}</div>}
    </li>
  );
}

function Webhooks() {
  const webhooks = useAlerts((s) => s.webhooks);
  const setWebhook = useAlerts((s) => s.setWebhook);
  const [groups, setGroups] = useState<GroupView[]>([]);
  const [drafts, setDrafts] = useState<Record<number, string>>({});
  useEffect(() => void call('groups.list', {}).then(setGroups, () => undefined), []);
  if (groups.length === 0) return <p className="muted">Create a server group to send its alerts to a webhook.</p>;
  return (
    <ul className="list">
      {groups.map((g) => {
        const current = webhooks.find((w) => w.groupId === g.id)?.url ?? '';
        const draft = drafts[g.id] ?? current;
        return (
          <li key={g.id} className="list-row">
            <strong>{g.name}</strong>
            <input className="wide" aria-label={`Webhook for ${g.name}`} placeholder="https://hooks.example.com/…" value={draft}
              onChange={(e) => setDrafts({ ...drafts, [g.id]: e.target.value })} />
            <button onClick={() => void setWebhook(g.id, draft.trim() || null)} disabled={draft === current}>
              Save
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** The health dashboard: every server and replica, open alerts, the alert history and the event trail, webhooks. */
export function HealthView() {
  const { open, history, events, snapshot, monitorError, error, start, watchHealth, loadHistory, dismiss } = useAlerts();
  useEffect(() => start(), [start]);
  useEffect(() => watchHealth(), [watchHealth]);
  useEffect(() => void loadHistory(), [loadHistory]);
  const resolved = history.filter((a) => a.resolvedAt);

  return (
    <section className="obs-health">
      <ErrorBanner error={error} onDismiss={dismiss} />
      <h2>Open alerts</h2>
      {open.length === 0 ? (
        <p className="ok" data-testid="no-alerts">No open alerts.</p>
      ) : (
        <ul className="obs-alerts" data-testid="open-alerts">
          {open.map((a) => (
            <AlertItem key={a.id} alert={a} />
          ))}
        </ul>
      )}
      <h2>Servers</h2>
      {monitorError && <p className="muted">{monitorError}</p>}
      {snapshot?.servers.length === 0 && <p className="muted">No servers registered.</p>}
      {snapshot?.servers.map((s) => (
        <ServerCard key={s.serverId} server={s} />
      ))}
      <h2>Resolved alerts</h2>
      {resolved.length === 0 ? (
        <p className="muted">None yet.</p>
      ) : (
        <ul className="obs-alerts" data-testid="resolved-alerts">
          {resolved.slice(0, 20).map((a) => (
            <AlertItem key={a.id} alert={a} />
          ))}
        </ul>
      )}
      <h2>Alert webhooks</h2>
      <Webhooks />
      <h2>Events</h2>
      <table className="table obs-events">
        <tbody>
          {events.slice(0, 50).map((e) => (
            <tr key={e.id}>
              <td className="obs-time">{new Date(e.at).toLocaleString()}</td>
              <td>{e.kind}</td>
              <td>{e.message}</td>
              <td className="muted">{e.actor}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
