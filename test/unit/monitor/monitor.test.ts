import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlertStore, createEventLog, createWebhookStore } from '../../../electron/main/services/monitor/alerts';
import { createAlertCenter, type AlertChange } from '../../../electron/main/services/monitor/center';
import { createMonitor } from '../../../electron/main/services/monitor/monitor';
import { postWebhook } from '../../../electron/main/services/monitor/webhook';
import { defaultLayout } from '../../../electron/main/services/remote/layout';
import { createServerRegistry } from '../../../electron/main/services/servers/registry';
import { openDatabase } from '../../../electron/main/services/store/database';
import { BerthError } from '../../../shared/errors';
import type { SshConnection } from '../../../electron/main/services/transport/ssh';

/** A server that answers the monitor's commands, or hangs like a cut link when `down`. */
function fakeServer() {
  const state = { down: false, inspect: [] as unknown[], opened: 0 };
  const hang = (timeoutMs = 2000) =>
    new Promise<never>((_, reject) => setTimeout(() => reject(new BerthError('RemoteCommandFailed', 'took longer')), timeoutMs));
  const connection = (): SshConnection => {
    let open = true;
    return {
      get isOpen() {
        return open;
      },
      close: () => void (open = false),
      async run(remote: unknown, options: { timeoutMs?: number } = {}) {
        const command = String(remote);
        if (state.down) return hang(options.timeoutMs);
        if (command.startsWith('echo berth-alive')) return 'berth-alive\n';
        if (command.includes('@ps')) return `@ps 0\n@df /dev/x 1000 500 500 50% /\n@inspect\n${JSON.stringify(state.inspect)}\n`;
        return '';
      },
      async stream() {
        const channel = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), end() {}, close() {} });
        return channel;
      },
    } as unknown as SshConnection;
  };
  const open = async (_id: number, options: { readyTimeoutMs?: number } = {}) => {
    state.opened++;
    if (state.down) return hang(options.readyTimeoutMs);
    return connection();
  };
  return { state, open };
}

function setup(webhook?: string) {
  const db = openDatabase(':memory:');
  const registry = createServerRegistry(db);
  const server = registry.insert({ name: 'tb9', host: '10.0.0.9', port: 22, username: 'root', auth: 'agent', keySecretId: null, keyOrigin: null, hostKeyType: 'ssh-ed25519', hostKeyFingerprint: 'SHA256:x' });
  const group = registry.createGroup('prod', 2);
  registry.updateGroup(group.id, { serverIds: [server.id] });
  const events = createEventLog(db);
  const webhooks = createWebhookStore(db);
  if (webhook) webhooks.set(group.id, webhook);
  const groupsOfServer = (id: number) => registry.groups().filter((g) => g.serverIds.includes(id));
  const center = createAlertCenter({ alerts: createAlertStore(db), events, webhooks, groupsOfServer, webhook: { timeoutMs: 1000, backoffMs: [50, 50] } });
  const fake = fakeServer();
  const restores: Array<{ groupId: number; reason: string }> = [];
  const monitor = createMonitor({
    open: fake.open,
    listServers: () => registry.list(),
    groupsOfServer,
    center,
    events,
    intervalMs: 100,
    livenessTimeoutMs: 300,
    layout: defaultLayout,
    recovery: { restoreGroup: async (groupId, context) => void restores.push({ groupId, reason: context.reason }) },
  });
  const changes: AlertChange[] = [];
  center.subscribe((c) => changes.push(c));
  return { db, registry, server, group, events, center, monitor, fake, restores, changes };
}

const until = async (check: () => boolean, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup) fn();
  cleanup = [];
});

describe('monitor with a fake server', () => {
  it('alerts once when a server stops answering, restores its group once, and resolves when it returns', async () => {
    const t = setup();
    cleanup.push(() => t.monitor.stop());
    t.monitor.start();
    await until(() => t.monitor.snapshot().servers[0]?.reachable === true);
    expect(t.monitor.snapshot().servers[0]).toMatchObject({ name: 'tb9', engine: 'up', gateway: 'absent', diskFreeBytes: 500 });

    t.fake.state.down = true;
    const lostAt = Date.now();
    await until(() => t.changes.some((c) => c.type === 'opened'));
    expect(Date.now() - lostAt).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 1000)); // several more failed probes
    expect(t.changes.filter((c) => c.type === 'opened')).toHaveLength(1);
    expect(t.changes[0].alert).toMatchObject({ kind: 'server_unreachable', subject: 'tb9', severity: 'critical' });
    expect(t.restores).toEqual([{ groupId: t.group.id, reason: 'server-lost' }]);

    t.fake.state.down = false;
    await until(() => t.changes.some((c) => c.type === 'resolved'));
    expect(t.changes.at(-1)!.alert.resolvedMessage).toMatch(/^tb9 answers again \(it was unreachable for \d+ s\)$/);
    await until(() => t.restores.length === 2);
    expect(t.restores[1]).toEqual({ groupId: t.group.id, reason: 'server-returned' });
    const kinds = t.events.list(50).map((e) => e.kind).reverse();
    expect(kinds).toEqual(['alert.opened', 'recovery.requested', 'recovery.succeeded', 'alert.resolved', 'recovery.requested', 'recovery.succeeded']);
  });

  it('turns replica state into alerts and resolves them when the container goes away', async () => {
    const t = setup();
    cleanup.push(() => t.monitor.stop());
    t.fake.state.inspect = [
      {
        Id: 'c1c1c1c1c1c1',
        Name: '/berth-iris-v1-r1',
        RestartCount: 10,
        State: { Status: 'exited', Running: false, ExitCode: 1 },
        HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 10 } },
        Config: { Labels: { 'berth.model': 'iris', 'berth.version': '1' } },
      },
    ];
    t.monitor.start();
    await until(() => t.changes.some((c) => c.alert.kind === 'replica_crash_loop'));
    t.fake.state.inspect = [];
    await until(() => t.changes.some((c) => c.type === 'resolved'));
    expect(t.changes.at(-1)!.alert.resolvedMessage).toMatch(/^tb9\/berth-iris-v1-r1 no longer exists/);
    expect(t.restores).toEqual([]);
  });
});

describe('webhooks', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function receiver(statuses: number[]) {
    const received: unknown[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.writeHead(statuses.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/hook`, received };
  }

  it('retries a failing receiver a bounded number of times', async () => {
    const { url, received } = await receiver([500, 503, 500, 200]);
    const result = await postWebhook(url, { a: 1 }, { backoffMs: [10, 10] });
    expect(result).toEqual({ ok: false, attempts: 3, status: 500, error: 'HTTP 500' });
    expect(received).toHaveLength(3);
  });

  it('gives up on a receiver that does not answer, within the timeout', async () => {
    server = createServer(() => {}); // never answers
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const started = Date.now();
    const result = await postWebhook(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {}, { timeoutMs: 200, backoffMs: [10] });
    expect(result).toMatchObject({ ok: false, attempts: 2, error: 'no answer within 200 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
    server.closeAllConnections();
  });

  it('posts the group webhook for opened and resolved alerts and records each delivery', async () => {
    const { url, received } = await receiver([]);
    const t = setup(url);
    const condition = { kind: 'disk_low' as const, subject: 'tb9', severity: 'warning' as const, message: 'tb9 has 5% disk free' };
    t.center.reconcile(t.server.id, 'all', [condition]);
    t.center.reconcile(t.server.id, 'all', [condition]); // same condition: no second alert
    t.center.reconcile(t.server.id, 'all', []);
    await t.center.idle();
    expect(received).toMatchObject([
      { event: 'alert.opened', group: 'prod', alert: { kind: 'disk_low', subject: 'tb9', message: 'tb9 has 5% disk free' } },
      { event: 'alert.resolved', group: 'prod', alert: { kind: 'disk_low', resolvedMessage: 'tb9 has enough free disk again' } },
    ]);
    expect(t.events.list(10).filter((e) => e.kind === 'webhook.delivered')).toHaveLength(2);
    // De-duplication lives in the database too: one open alert per (kind, subject).
    expect(() => t.db.prepare("INSERT INTO alerts (kind, subject, severity, message, opened_at, last_seen_at) VALUES ('disk_low','x','warning','m','t','t'), ('disk_low','x','warning','m','t','t')").run()).toThrow(/UNIQUE/);
  });
});
