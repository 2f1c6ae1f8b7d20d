/** A server's card in the health view: reachability, its agent, and its replicas as last seen. */
import type { ServerHealth } from '../../../../shared/monitor';

const mib = (bytes: number | null) => (bytes === null ? '–' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`);

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

export function ServerCard({ server }: { server: ServerHealth }) {
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
                {server.reachable ? (
                  <>
                    <td className={r.state === 'running' ? 'ok' : 'bad'}>
                      {r.state}
                      {r.oomKilled ? ' · OOM killed' : ''}
                      {r.state !== 'running' && r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}
                    </td>
                    <td>{r.ready === null ? '–' : r.ready ? <span className="ok">yes</span> : <span className="bad">no</span>}</td>
                  </>
                ) : (
                  // What an unreachable server last said is no news of its replicas now.
                  <>
                    <td className="warn" data-testid="replica-unknown">unknown: {server.name} does not answer</td>
                    <td>–</td>
                  </>
                )}
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
