import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AlertEvent } from '../../../shared/monitor';
import { bedDir, forgetGroupOnBed } from '../bed';
import { berthWithServers, call, ensureBaseImage, median, onServer, predict, removeContainers, removeServingDirs, runServing, subscribe, until, waitReady } from '../logs/support';

const PREFIX = 'berth-obsmon';
const CRASHY = `
import os
def predict(inputs):
    if inputs == "crash":
        os._exit(3)
    return {"ok": inputs}
`;
const HOG = `
import time
chunks = []
while True:
    chunks.append(bytearray(8 * 1024 * 1024))
    time.sleep(0.05)
`;

let env: Awaited<ReturnType<typeof berthWithServers>>;
let hook: Server;
let hookUrl = '';
const received: Array<{ at: number; body: any }> = [];
const restores: Array<{ at: number; groupId: number; reason: string }> = [];
let alerts: ReturnType<typeof subscribe>;
let groupId = 0;

const alertEvents = () => alerts.events.map((e) => ({ at: e.at, event: e.event as AlertEvent }));
const opened = (kind: string, subject: string, after = 0) =>
  alertEvents().find((e) => e.at >= after && e.event.type === 'opened' && e.event.alert.kind === kind && e.event.alert.subject === subject);
const resolved = (id: number) => alertEvents().find((e) => e.event.type === 'resolved' && (e.event as { alert: Alert }).alert.id === id);
// Asynchronous, so the monitor in this process keeps polling while tb.sh works.
const tb = (...args: string[]) => promisify(execFile)('bash', ['test/bed/tb.sh', ...args], { timeout: 180_000, env: { ...process.env, TB: bedDir } });

beforeAll(async () => {
  ensureBaseImage();
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ at: Date.now(), body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/berth-alerts`;
  env = await berthWithServers(3);
  removeContainers(env.bed, PREFIX);
  forgetGroupOnBed(env.bed, 'obsmon');
  const group = await call(env.berth, 'groups.create', { name: 'obsmon', replicas: 1, tls: 'off' });
  groupId = group.id;
  await call(env.berth, 'groups.update', { id: group.id, serverIds: env.ids });
  await call(env.berth, 'alerts.setWebhook', { groupId, url: hookUrl });
  const { monitor } = env.berth.services.observability;
  monitor.setRecovery({ restoreGroup: async (id, context) => void restores.push({ at: Date.now(), groupId: id, reason: context.reason }) });
  monitor.start();
  alerts = subscribe(env.berth, 'alerts.watch', {});
  await until(() => monitor.snapshot().servers.length === 3 && monitor.snapshot().servers.every((s) => s.reachable && s.engine === 'up'), 30_000, 'all servers up');
});

afterAll(async () => {
  alerts?.cancel();
  env?.berth.close();
  if (env) removeContainers(env.bed, PREFIX);
  if (env) forgetGroupOnBed(env.bed, 'obsmon');
  removeServingDirs();
  hook?.close();
});

describe('monitoring the test servers', () => {
  it('alerts a replica that crashes on a special input, sees Docker restart it, and resolves once it is ready again', async () => {
    const port = 19420;
    runServing(env.bed, 1, { name: `${PREFIX}-v1-r1`, model: 'obsmon', version: 1, replica: 1, port, module: CRASHY, extra: '--restart on-failure:5' });
    await waitReady(env.bed, 1, port);
    expect(predict(env.bed, 1, port, { inputs: 'fine' }, 'ok-1')).toBe(200);
    const sentAt = Date.now();
    expect(predict(env.bed, 1, port, { inputs: 'crash' }, 'boom-1')).not.toBe(200);
    const subject = `tb2/${PREFIX}-v1-r1`;
    const alert = await until(() => opened('replica_crashed', subject), 20_000, 'the crash alert');
    console.log(`[measure] replica crash → alert: ${alert.at - sentAt} ms`);
    expect((alert.event as { alert: Alert }).alert.message).toMatch(/^berth-obsmon-v1-r1 on tb2 crashed \(exit 3\)/);
    const replica = () => env.berth.services.observability.monitor.snapshot().servers[1].replicas.find((r) => r.container === `${PREFIX}-v1-r1`);
    await until(() => replica()?.restartCount === 1 && replica()?.ready === true, 30_000, 'the restarted replica to be ready');
    const id = (alert.event as { alert: Alert }).alert.id;
    const done = await until(() => resolved(id), 40_000, 'the crash alert to resolve');
    expect((done.event as { alert: Alert }).alert.resolvedMessage).toMatch(/^tb2\/berth-obsmon-v1-r1 is running and ready again/);
    await until(() => received.filter((r) => r.body.alert.id === id).length === 2, 15_000, 'both webhook deliveries');
    expect(received.filter((r) => r.body.alert.id === id).map((r) => [r.body.event, r.body.group])).toEqual([
      ['alert.opened', 'obsmon'],
      ['alert.resolved', 'obsmon'],
    ]);
    expect(restores).toEqual([]); // a crashed replica is Docker's to restart, not a lost server
  });

  it('reports a container that exceeds its memory limit as OOM killed, with the limit and the peak seen', async () => {
    onServer(
      env.bed,
      0,
      `docker rm -f ${PREFIX}hog-v1-r1 >/dev/null 2>&1; docker run -d --name ${PREFIX}hog-v1-r1 --label berth.model=obsmonhog --label berth.version=1 ` +
        `--label berth.replica=1 --memory 64m --memory-swap 64m --network none berth-base/python:3.11-bookworm python3 -c '${HOG}'`,
    );
    const subject = `tb1/${PREFIX}hog-v1-r1`;
    const alert = await until(() => opened('replica_oom', subject), 60_000, 'the OOM alert');
    const body = (alert.event as { alert: Alert }).alert;
    console.log(`[measure] OOM alert: ${body.message}`);
    expect(body.severity).toBe('critical');
    expect(body.message).toMatch(/^berth-obsmonhog-v1-r1 on tb1 was killed for running out of memory \(limit 64\.0 MiB, peak seen (\d+\.\d) MiB\)$/);
    expect(body.detail).toMatchObject({ memoryLimitBytes: 64 * 1024 * 1024, exitCode: 137 });
    const state = await until(
      () => env.berth.services.observability.monitor.snapshot().servers[0].replicas.find((r) => r.container === `${PREFIX}hog-v1-r1` && r.state === 'exited'),
      20_000,
      'the exited container in the snapshot',
    );
    expect(state).toMatchObject({ oomKilled: true, exitCode: 137, memoryLimitBytes: 64 * 1024 * 1024 });
    onServer(env.bed, 0, `docker rm -f ${PREFIX}hog-v1-r1 >/dev/null`);
    const done = await until(() => resolved(body.id), 20_000, 'the OOM alert to resolve when the container is removed');
    expect((done.event as { alert: Alert }).alert.resolvedMessage).toMatch(/no longer exists/);
  });

  it('raises an alert within 10 s of a server crash (3 missed probes, never one), restores its group once, and resolves when it is back (3 times)', async () => {
    const detections: number[] = [];
    for (let round = 0; round < 3; round++) {
      const before = restores.length;
      let crashedAt = 0;
      try {
        crashedAt = Date.now();
        await tb('crash', '3');
        const alert = await until(() => opened('server_unreachable', 'tb3', crashedAt), 15_000, 'the unreachable alert');
        detections.push(alert.at - crashedAt);
        await new Promise((r) => setTimeout(r, 2500)); // more failed probes: still one alert, one restore
        expect(alertEvents().filter((e) => e.at >= crashedAt && e.event.type === 'opened' && e.event.alert.kind === 'server_unreachable')).toHaveLength(1);
        expect(restores.slice(before)).toEqual([{ at: expect.any(Number), groupId, reason: 'server-lost' }]);
      } finally {
        await tb('restore', '3');
      }
      const alert = opened('server_unreachable', 'tb3', crashedAt)!.event as { alert: Alert };
      const done = await until(() => resolved(alert.alert.id), 30_000, 'the unreachable alert to resolve');
      expect((done.event as { alert: Alert }).alert.resolvedMessage).toMatch(/^tb3 answers again \(it was unreachable for \d+ s\)$/);
      await until(() => restores.length === before + 2, 10_000, 'the rebalance call');
      expect(restores.at(-1)).toMatchObject({ groupId, reason: 'server-returned' });
      await until(() => received.filter((r) => r.body.alert.id === alert.alert.id).length === 2, 15_000, 'both webhook deliveries');
    }
    console.log(`[measure] crashed server → alert: ${detections.join(', ')} ms (median ${median(detections)} ms)`);
    expect(Math.max(...detections)).toBeLessThan(10_000);
    const events = await call(env.berth, 'events.list', { limit: 200 });
    expect(events.some((e: any) => e.kind === 'recovery.requested' && e.message === 'Asked the orchestrator to restore obsmon without tb3')).toBe(true);
    expect(events.some((e: any) => e.kind === 'webhook.delivered')).toBe(true);
  });
});
