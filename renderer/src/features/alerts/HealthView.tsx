import { useEffect, useState } from 'react';
import type { GroupView } from '../../../../shared/servers';
import type { Alert, ServerHealth } from '../../../../shared/monitor';
import { call } from '../../api/client';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useAlerts } from './store';

const mib = (bytes: number | null) => (bytes === null ? '–' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`);
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

/** One line on the server's agent: "Agent: up · leader · peers fb2 lost · 2 stand-ins", or "no agent". */
function agentLine(agent: ServerHealth['agent']): string {
  if (!agent) return 'no agent';
  const parts = [agent.ageSeconds <= 15 ? 'up' : `last view ${agent.ageSeconds} s old`];
  if (agent.leader) parts.push('leader');
  if (!agent.caughtUp) parts.push('catching up');
  const lost = agent.peers.filter((p) => p.state === 'lost').map((p) => p.name);
  const unknown = agent.peers.filter((p) => p.state === 'unknown').map((p) => p.name);
  if (lost.length) parts.push(`peers ${lost.join(', ')} lost`);
  if (unknown.length) parts.push(`peers ${unknown.join(', ')} unknown`);
  if (!lost.length && !unknown.length && agent.peers.length) parts.push(`${agent.peers.length} peer${agent.peers.length === 1 ? '' : 's'} up`);
  if (agent.incidents) parts.push(`${agent.incidents} incident${agent.incidents === 1 ? '' : 's'}`);
  if (agent.standIns) parts.push(`${agent.standIns} stand-in${agent.standIns === 1 ? '' : 's'}`);
  return `Agent: ${parts.join(' · ')}`;
}

function ServerCard({ server }: { server: ServerHealth }) {
  const disk = server.diskFreeBytes !== null && server.diskTotalBytes ? (100 * server.diskFreeBytes) / server.diskTotalBytes : null;
  return (
    <div className={`card obs-server ${server.reachable ? 'up' : 'down'}`} data-server-health={server.name}>
      <div className="row">
        <h3>{server.name}</h3>
        <span className={server.reachable ? 'ok' : 'bad'}>{server.reachable ? 'reachable' : 'unreachable'}</span>
        <span className="muted">engine {server.engine} · gateway {server.gateway}</span>
        <span className="spacer" />
        {disk !== null && <span className={disk < 10 ? 'bad' : 'muted'}>{disk.toFixed(0)}% disk free</span>}
        {server.latencyMs !== null && <span className="muted">{server.latencyMs} ms</span>}
      </div>
      <div className={server.agent ? 'muted' : 'muted obs-no-agent'} data-testid="agent-line">
        {server.agent ? agentLine(server.agent) : 'Agent: no agent (this Berth watches the server itself)'}
      </div>
      {server.error && <div className="bad">{server.error}{server.agent ? ' (from this computer; the agents judge whether the server is lost)' : ''}</div>}
      {server.replicas.length > 0 && (
        <table className="table obs-replicas">
          <thead>
            <tr>
              <th>Container</th>
              <th>State</th>
              <th>Ready</th>
              <th>Restarts</th>
              <th>Memory (now / peak / limit)</th>
            </tr>
          </thead>
          <tbody>
            {server.replicas.map((r) => (
              <tr key={r.container}>
                <td>{r.container}</td>
                <td className={r.state === 'running' ? 'ok' : 'bad'}>
                  {r.state}
                  {r.oomKilled ? ' · OOM killed' : ''}
                  {r.state !== 'running' && r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}
                </td>
                <td>{r.ready === null ? '–' : r.ready ? <span className="ok">yes</span> : <span className="bad">no</span>}</td>
                <td className={r.restartCount ? 'warn' : undefined}>{r.restartCount}</td>
                <td>
                  {mib(r.memoryUsageBytes)} / {mib(r.memoryPeakBytes)} / {r.memoryLimitBytes ? mib(r.memoryLimitBytes) : 'no limit'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
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
