import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { agentCommands } from '../../../electron/main/services/agent/install';
import { agentConditions, parseView, parseViewOutput } from '../../../electron/main/services/monitor/agent-view';
import { createAlertStore, createEventLog, createWebhookStore } from '../../../electron/main/services/monitor/alerts';
import { createAlertCenter, type AlertChange } from '../../../electron/main/services/monitor/center';
import type { DetectOptions } from '../../../electron/main/services/monitor/detect';
import { createMonitor } from '../../../electron/main/services/monitor/monitor';
import { defaultLayout } from '../../../electron/main/services/remote/layout';
import { createServerRegistry } from '../../../electron/main/services/servers/registry';
import { openDatabase } from '../../../electron/main/services/store/database';
import type { SshConnection } from '../../../electron/main/services/transport/ssh';
import { RecordingShell, type Answer } from '../support/recording-shell';

const VIEW_COMMAND = String(agentCommands.viewWithAge(defaultLayout));
const uidOf = (name: string) => `srv_${name.padEnd(16, '0')}`;

interface Incident {
  id: string;
  kind: 'server_lost' | 'replica_crash_loop' | 'replica_oom';
  server: string | null;
  model?: string | null;
  version?: number | null;
  resolvedAt?: string | null;
  text?: string;
}

/** What one fake server answers; tests change it while the monitor runs. */
interface Script {
  /** liveness probes to fail (fast, exit 255) before answering again; Infinity: keep failing */
  failProbes: number;
  /** age in seconds of the view file, or null for none */
  viewAge: number | null;
  incidents: Incident[];
  peers: Array<{ uid: string; name: string; host: string; state: 'up' | 'lost' | 'unknown' }>;
  replicas: unknown[];
  diskFree: number;
  /** called with the running count of failed probes, as each one is answered */
  onFailure?: (count: number) => void;
}

function fakeServer(name: string, host: string, script: Partial<Script> = {}) {
  const s: Script = { failProbes: 0, viewAge: null, incidents: [], peers: [], replicas: [], diskFree: 500, ...script };
  const commands: string[] = [];
  let failures = 0;
  const view = () => ({
    uid: uidOf(name),
    version: 'test',
    startedAt: '2025-01-01T00:00:00Z',
    at: '2025-01-01T00:00:10Z',
    caughtUp: true,
    freeMemoryMb: 1000,
    groups: {
      prod: {
        revision: 3,
        leader: uidOf('fb1'),
        peers: s.peers,
        incidents: s.incidents.map((i) => ({ model: null, version: null, openedAt: '2025-01-01T00:00:05Z', resolvedAt: null, text: '', notified: true, ...i })),
        standIns: [],
      },
    },
    replicas: s.replicas,
    localIncidents: [],
  });
  const respond = (command: string): Answer => {
    commands.push(command);
    if (command.startsWith('echo berth-alive')) {
      if (s.failProbes > 0) {
        s.failProbes--;
        failures++;
        s.onFailure?.(failures);
        return { code: 255, stderr: 'Connection reset by peer' };
      }
      return { stdout: 'berth-alive\n' };
    }
    if (command === VIEW_COMMAND) return { stdout: s.viewAge === null ? 'none\n' : `${s.viewAge}\n${JSON.stringify(view())}\n` };
    if (command.includes('@ps')) return { stdout: `@ps 0\n@df /dev/x 1000 ${1000 - s.diskFree} ${s.diskFree} 50% /\n@inspect\n[]\n` };
    return {};
  };
  const open = async (): Promise<SshConnection> => {
    const shell = new RecordingShell([[() => true, (command) => respond(command)]], { host });
    let isOpen = true;
    return Object.assign(shell, {
      get isOpen() {
        return isOpen;
      },
      close: () => void (isOpen = false),
      async stream() {
        return Object.assign(new EventEmitter(), { stderr: new EventEmitter(), end() {}, close() {} });
      },
    }).connection;
  };
  return { name, host, script: s, commands, open, failures: () => failures };
}

type Fake = ReturnType<typeof fakeServer>;

function setup(fakes: Fake[], options: { detect?: Partial<DetectOptions>; groups?: Record<string, string[]> } = {}) {
  const db = openDatabase(':memory:');
  const registry = createServerRegistry(db);
  const ids = new Map<string, number>();
  for (const f of fakes) {
    const row = registry.insert({ name: f.name, host: f.host, port: 22, username: 'root', auth: 'agent', keySecretId: null, keyOrigin: null, hostKeyType: 'ssh-ed25519', hostKeyFingerprint: 'SHA256:x' });
    ids.set(f.name, row.id);
  }
  const webhooks = createWebhookStore(db);
  for (const [group, members] of Object.entries(options.groups ?? { prod: fakes.map((f) => f.name) })) {
    const g = registry.createGroup(group, 1);
    registry.updateGroup(g.id, { serverIds: members.map((m) => ids.get(m)!) });
    webhooks.set(g.id, `https://hooks.example.com/${group}`);
  }
  const posted: Array<{ url: string; body: any }> = [];
  const fakeFetch = (async (url: string, init: { body: string }) => {
    posted.push({ url, body: JSON.parse(init.body) });
    return new Response(null, { status: 204 });
  }) as unknown as typeof fetch;
  const events = createEventLog(db);
  const groupsOfServer = (id: number) => registry.groups().filter((g) => g.serverIds.includes(id));
  const center = createAlertCenter({ alerts: createAlertStore(db), events, webhooks, groupsOfServer, webhook: { fetch: fakeFetch, backoffMs: [] } });
  const restores: Array<{ groupId: number; reason: string; server: string }> = [];
  const clock = { skew: 0 };
  const byId = new Map(fakes.map((f) => [ids.get(f.name)!, f]));
  const monitor = createMonitor({
    open: (id) => byId.get(id)!.open(),
    listServers: () => registry.list(),
    groupsOfServer,
    center,
    events,
    intervalMs: 50,
    viewIntervalMs: 50,
    livenessTimeoutMs: 300,
    layout: defaultLayout,
    detect: options.detect,
    now: () => Date.now() + clock.skew,
    recovery: { restoreGroup: async (groupId, context) => void restores.push({ groupId, reason: context.reason, server: context.server }) },
  });
  const changes: AlertChange[] = [];
  center.subscribe((c) => changes.push(c));
  cleanup.push(() => monitor.stop());
  const health = (name: string) => monitor.snapshot().servers.find((s) => s.name === name);
  return { db, ids, events, center, monitor, posted, restores, changes, clock, health };
}

const until = async (check: () => boolean, what: string, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup) fn();
  cleanup = [];
});

describe('the monitor reads the server agents', () => {
  it('reads the view and its age in one command', () => {
    expect(VIEW_COMMAND).toBe(
      `sh -c 'if [ -e "$1" ]; then echo $(( $(date +%s) - $(stat -c %Y "$1") )); cat "$1"; else echo none; fi' sh /var/lib/berth/agent/view.json`,
    );
    expect(parseViewOutput('none\n')).toEqual({ kind: 'none' });
    expect(parseViewOutput('3\n{"uid":"srv_1","groups":{}}\n')).toMatchObject({ kind: 'view', ageSeconds: 3, view: { uid: 'srv_1' } });
    expect(parseViewOutput('3\n{"uid":"srv_1","gro').kind).toBe('unreadable');
  });

  it("turns a fresh view's open incidents into alerts without a webhook, and resolves them with the agents", async () => {
    const fb1 = fakeServer('fb1', '10.0.0.1', {
      viewAge: 2,
      incidents: [{ id: 'replica_crash_loop:iris:3', kind: 'replica_crash_loop', server: uidOf('fb1'), model: 'iris', version: 3, text: 'iris v3 keeps crashing on fb1' }],
      replicas: [{ name: 'berth-iris-v3-r1', model: 'iris', version: 3, port: 9101, running: false, ready: false, restarts: 4, oomKilled: false, standInFor: null }],
    });
    const fb3 = fakeServer('fb3', '10.0.0.3', { diskFree: 10 }); // no agent: the desktop watches it itself
    const t = setup([fb1, fb3]);
    t.monitor.start();
    await until(() => t.changes.some((c) => c.alert.kind === 'replica_crash_loop'), 'the crash-loop alert');
    const alert = t.changes.find((c) => c.alert.kind === 'replica_crash_loop')!.alert;
    expect(alert).toMatchObject({ subject: 'fb1/iris v3', severity: 'critical', serverId: t.ids.get('fb1'), message: 'iris v3 keeps crashing on fb1' });
    expect(alert.detail).toMatchObject({ source: 'berth-agent', group: 'prod', incident: 'replica_crash_loop:iris:3', webhook: false });
    await until(() => t.changes.some((c) => c.alert.kind === 'disk_low'), 'the desktop-detected disk alert on the server without agent');

    fb1.script.incidents[0].resolvedAt = '2025-01-01T00:01:00Z';
    await until(() => t.changes.some((c) => c.type === 'resolved' && c.alert.id === alert.id), 'the resolution');
    await t.center.idle();
    // Only the desktop's own alert went to the webhook; the agents' one and its resolution did not.
    expect(t.posted.map((p) => `${p.body.event} ${p.body.alert.kind}`)).toEqual(['alert.opened disk_low']);
    expect(t.events.list(100).filter((e) => e.alertId === alert.id).map((e) => e.kind).sort()).toEqual(['alert.opened', 'alert.resolved']);

    // Agent-backed: no details poll, no container events; the snapshot comes from the view.
    expect(fb1.commands.some((c) => c.includes('@ps'))).toBe(false);
    expect(fb3.commands.some((c) => c.includes('@ps'))).toBe(true);
    expect(t.health('fb1')).toMatchObject({
      reachable: true,
      engine: 'unknown',
      agent: { leader: true, caughtUp: true, peers: [], incidents: 0, standIns: 0, ageSeconds: 2 },
      replicas: [{ container: 'berth-iris-v3-r1', model: 'iris', version: 3, replica: 1, port: 9101, state: 'exited', restartCount: 4, ready: null, memoryUsageBytes: null }],
    });
    expect(t.health('fb3')!.agent).toBeNull();
  });

  it('a failed probe of an agent-backed server from here is no alert and calls no recovery', async () => {
    const fb1 = fakeServer('fb1', '10.0.0.1', { viewAge: 1 });
    const t = setup([fb1]);
    t.monitor.start();
    await until(() => t.health('fb1')?.agent != null, 'the agent view');
    fb1.script.failProbes = Infinity;
    await until(() => fb1.failures() >= 6, 'six failed probes');
    expect(t.health('fb1')).toMatchObject({ reachable: false, error: expect.stringMatching(/exit 255/), agent: { caughtUp: true } });
    expect(t.changes).toEqual([]);
    expect(t.restores).toEqual([]);
  });

  it("opens server_unreachable from a peer's server_lost incident (mapped by host) and resolves it when the agents do", async () => {
    const fb1 = fakeServer('fb1', '10.0.0.1', { viewAge: 1 });
    const fb2 = fakeServer('fb2', '10.0.0.2', { viewAge: 1 });
    const t = setup([fb1, fb2]);
    t.monitor.start();
    await until(() => t.health('fb1')?.agent != null && t.health('fb2')?.agent != null, 'both views');
    fb1.script.failProbes = Infinity; // this laptop cannot reach fb1 either: its last view stands
    fb2.script.peers = [{ uid: uidOf('fb1'), name: 'box-one', host: '10.0.0.1', state: 'lost' }];
    fb2.script.incidents = [{ id: `server_lost:${uidOf('fb1')}:1`, kind: 'server_lost', server: uidOf('fb1'), text: 'fb1 missed 3 probes of fb2' }];
    await until(() => t.changes.some((c) => c.type === 'opened'), 'the unreachable alert');
    const opened = t.changes.filter((c) => c.type === 'opened');
    expect(opened.map((c) => [c.alert.kind, c.alert.subject, c.alert.serverId])).toEqual([['server_unreachable', 'fb1', t.ids.get('fb1')]]);
    expect(opened[0].alert.message).toBe('fb1 missed 3 probes of fb2');
    expect(t.health('fb2')!.agent).toMatchObject({ peers: [{ name: 'box-one', state: 'lost' }], incidents: 1, leader: false });

    await pause(300); // still one alert
    expect(t.changes.filter((c) => c.type === 'opened')).toHaveLength(1);

    fb1.script.failProbes = 0;
    fb2.script.peers[0].state = 'up';
    fb2.script.incidents[0].resolvedAt = '2025-01-01T00:02:00Z';
    await until(() => t.changes.some((c) => c.type === 'resolved'), 'the resolution');
    expect(t.changes.find((c) => c.type === 'resolved')!.alert).toMatchObject({ kind: 'server_unreachable', subject: 'fb1', resolvedMessage: expect.stringMatching(/^fb1 answers again/) });
    await t.center.idle();
    expect(t.posted).toEqual([]);
    expect(t.restores).toEqual([]);
  });

  it('maps a lost peer by name when its host differs, and counts one alert for the same incident seen by two agents', () => {
    const servers = [
      { id: 1, name: 'fb1', host: 'fb1.example' },
      { id: 2, name: 'fb2', host: '10.0.0.2' },
      { id: 3, name: 'fb3', host: '10.0.0.3' },
    ];
    const lostView = (self: string) =>
      parseView({
        uid: uidOf(self),
        groups: { prod: { leader: uidOf('fb2'), peers: [{ uid: uidOf('fb1'), name: 'fb1', host: '10.9.9.9', state: 'lost' }], incidents: [{ id: `lost-by-${self}`, kind: 'server_lost', server: uidOf('fb1'), resolvedAt: null }] } },
      })!;
    const conditions = agentConditions(
      [
        { server: servers[2], view: lostView('fb3') },
        { server: servers[1], view: lostView('fb2') },
      ],
      servers,
    );
    expect(conditions).toEqual([
      { serverId: 1, condition: expect.objectContaining({ kind: 'server_unreachable', subject: 'fb1', webhook: false, detail: expect.objectContaining({ reportedBy: 'fb2' }) }) },
    ]);
    // An incident about a server Berth does not know is left out.
    expect(agentConditions([{ server: servers[1], view: parseView({ uid: 'srv_x', groups: { prod: { incidents: [{ kind: 'server_lost', server: 'srv_unknown' }] } } })! }], servers)).toEqual([]);
  });
});

describe('servers without an agent', () => {
  it('two failed probes raise nothing; the third opens server_unreachable and asks for recovery', async () => {
    const fb3 = fakeServer('fb3', '10.0.0.3');
    const t = setup([fb3]);
    t.monitor.start();
    await until(() => t.health('fb3')?.reachable === true, 'the first probe');
    const probes = () => fb3.commands.filter((c) => c.startsWith('echo berth-alive')).length;
    fb3.script.failProbes = 2;
    const before = probes();
    await until(() => probes() >= before + 4, 'two failures and two answers');
    expect(fb3.failures()).toBe(2);
    expect(t.changes).toEqual([]);
    expect(t.restores).toEqual([]);

    let failuresAtAlert = -1;
    t.center.subscribe((c) => void (c.type === 'opened' && failuresAtAlert < 0 && (failuresAtAlert = fb3.failures())));
    fb3.script.failProbes = Infinity;
    await until(() => t.changes.some((c) => c.type === 'opened'), 'the unreachable alert');
    expect(failuresAtAlert).toBe(5); // 2 earlier (forgiven by the answers after them) + 3 in a row
    expect(t.changes[0].alert).toMatchObject({ kind: 'server_unreachable', subject: 'fb3', detail: { failedProbes: 3 } });
    await until(() => t.restores.length === 1, 'the recovery call');
    expect(t.restores).toEqual([{ groupId: expect.any(Number), reason: 'server-lost', server: 'fb3' }]);
    await t.center.idle();
    expect(t.posted.map((p) => p.body.event)).toEqual(['alert.opened']); // the desktop's own alert is posted
  });

  it('a probe that comes late (the laptop slept) restarts the count and raises nothing', async () => {
    const fb3 = fakeServer('fb3', '10.0.0.3');
    const t = setup([fb3]);
    t.monitor.start();
    await until(() => t.health('fb3')?.reachable === true, 'the first probe');
    let failuresAtAlert = -1;
    t.center.subscribe((c) => void (c.type === 'opened' && failuresAtAlert < 0 && (failuresAtAlert = fb3.failures())));
    // The second failure is the last thing before the laptop sleeps a minute; every probe fails from then on.
    fb3.script.onFailure = (count) => void (count === 2 && (t.clock.skew += 60_000));
    fb3.script.failProbes = Infinity;
    await until(() => t.changes.some((c) => c.type === 'opened'), 'the unreachable alert');
    // 2 before the sleep, the late one (not counted), then 3 in a row.
    expect(failuresAtAlert).toBe(6);
    expect(t.events.list(50).filter((e) => e.kind === 'monitor.resumed').map((e) => e.subject)).toEqual(['fb3']);
  });

  it('the count of probes is an option', async () => {
    const fb3 = fakeServer('fb3', '10.0.0.3');
    const t = setup([fb3], { detect: { unreachableAfter: 1 } });
    t.monitor.start();
    await until(() => t.health('fb3')?.reachable === true, 'the first probe');
    let failuresAtAlert = -1;
    t.center.subscribe((c) => void (c.type === 'opened' && failuresAtAlert < 0 && (failuresAtAlert = fb3.failures())));
    fb3.script.failProbes = Infinity;
    await until(() => t.changes.some((c) => c.type === 'opened'), 'the unreachable alert');
    expect(failuresAtAlert).toBe(1);
  });
});
