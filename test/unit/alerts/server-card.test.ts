import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ServerHealth } from '../../../shared/monitor';
import { ServerCard } from '../../../renderer/src/features/alerts/ServerCard';

const replica = {
  container: 'berth-iris-v1-r1', model: 'iris', version: 1, replica: 1, port: 9101, state: 'running', exitCode: null, restartCount: 0,
  oomKilled: false, ready: true, memoryLimitBytes: null, memoryUsageBytes: null, memoryPeakBytes: null, startedAt: null,
};
const server = (reachable: boolean): ServerHealth => ({
  serverId: 1, name: 'tb1', host: '10.0.0.1', reachable, engine: reachable ? 'up' : 'unknown', gateway: reachable ? 'up' : 'unknown',
  diskFreeBytes: null, diskTotalBytes: null, latencyMs: null, error: reachable ? null : 'Cannot reach root@10.0.0.1:22', checkedAt: null, replicas: [replica], agent: null,
});

/** An outage shows as one: a lost server's last-known replicas are unknown, never "running" and ready. */
describe('the health view of a server', () => {
  it('shows the replicas of a reachable server as Docker and /readyz say', () => {
    const html = renderToStaticMarkup(createElement(ServerCard, { server: server(true) }));
    expect(html).toContain('running');
    expect(html).toContain('<span class="ok">yes</span>');
  });

  it('shows the replicas of an unreachable server as unknown', () => {
    const html = renderToStaticMarkup(createElement(ServerCard, { server: server(false) }));
    expect(html).toContain('unknown: tb1 does not answer');
    expect(html).not.toContain('running');
    expect(html).not.toContain('<span class="ok">yes</span>');
  });
});
