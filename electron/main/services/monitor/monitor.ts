import { EventEmitter, on } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientChannel } from 'ssh2';
import { BerthError } from '../../../../shared/errors';
import type { AlertKind, MonitorSnapshot, ReplicaHealth, ServerHealth } from '../../../../shared/monitor';
import { alertKinds } from '../../../../shared/monitor';
import { closeTied, lineSplitter, tiedToChannel } from '../logs/remote';
import { command } from '../remote/command';
import { agentCommands } from '../agent/install';
import type { ServerLayout } from '../remote/layout';
import type { SshConnection } from '../transport/ssh';
import { agentConditions, agentSummary, isFresh, parseViewOutput, replicasFromView, type AgentView } from './agent-view';
import type { EventLog } from './alerts';
import { postsWebhook, type AlertCenter } from './center';
import type { OpenConnection } from './connect';
import {
  applyEvent,
  applyPoll,
  defaultDetectOptions,
  newTrack,
  readyOf,
  replicaConditions,
  serverConditions,
  unreachableCondition,
  type Condition,
  type DetectOptions,
  type ReplicaTrack,
} from './detect';
import {
  DETAILS_COMMAND,
  eventsCommand,
  GATEWAY_CONTAINER,
  parseDetails,
  parseEvent,
  parseRuntime,
  runtimeCommand,
  type RuntimeProbe,
  type ServerDetails,
} from './probe';

/** The liveness probe; a member's key answers berth-shell's `help` ("role … may run: …"). */
const LIVENESS = command('echo', 'berth-alive').asVerb(['help']);

/** Injected by the deploy orchestrator: puts a group's replicas back on the servers that are up. */
export interface RecoveryHooks {
  restoreGroup(
    groupId: number,
    context: { reason: 'server-lost' | 'server-returned'; serverId: number; server: string; alertId: number },
  ): Promise<unknown> | unknown;
}

export interface MonitorDeps {
  open: OpenConnection;
  listServers(): Array<{ id: number; name: string; host: string }>;
  groupsOfServer(serverId: number): Array<{ id: number; name: string }>;
  center: AlertCenter;
  events: EventLog;
  recovery?: RecoveryHooks;
  /** Called when a server answers again (e.g. to pull its inference records at once). */
  onServerReturned?: (serverId: number) => void;
  intervalMs?: number;
  /** SSH liveness: connect and `echo` each bounded by this; a cut link hangs rather than refusing. */
  livenessTimeoutMs?: number;
  detect?: Partial<DetectOptions>;
  /** Where Berth's files are on the servers: the agent's view is `<berthDir>/agent/view.json`. */
  layout: ServerLayout;
  /** How often the agent's view is read (default 5 s); also how soon a new agent is noticed. */
  viewIntervalMs?: number;
  /** The wall clock (tests move it to simulate a laptop that slept). */
  now?: () => number;
}

interface ServerState {
  id: number;
  name: string;
  host: string;
  ssh: SshConnection | null;
  reachable: boolean | null;
  error: string | null;
  latencyMs: number | null;
  checkedAt: string | null;
  details: ServerDetails | null;
  runtime: RuntimeProbe | null;
  tracks: Map<string, ReplicaTrack>;
  events: ClientChannel | null;
  eventsOpening: boolean;
  lastEventNano: number | null;
  detailsRunning: boolean;
  detailsAgain: boolean;
  stop: AbortController;
  /** Consecutive failed probes (servers without an agent are alerted after `unreachableAfter`). */
  failures: number;
  lastTickAt: number | null;
  /** The latest fresh view; kept while the server cannot be read from here (only a read that finds none or a stale one clears it). */
  agent: { view: AgentView; ageSeconds: number } | null;
  viewReadAt: number | null;
}

const REACHABILITY: readonly AlertKind[] = ['server_unreachable'];
/** What the monitor judges; certificate expiry is the certificate pass's (services/tls/renewal.ts). */
const MONITORED_KINDS: readonly AlertKind[] = alertKinds.filter((k) => k !== 'certificate_expiring');
const DETAIL_KINDS: readonly AlertKind[] = MONITORED_KINDS.filter((k) => k !== 'server_unreachable');

/**
 * Polls every registered server while Berth runs: SSH liveness on a dedicated connection (bounded), and every
 * `viewIntervalMs` the server agent's view (docs/AGENT.md) over the same connection.
 *
 * A server whose agent wrote its view in the last 15 s is agent-backed: its alerts are the agents' open incidents
 * (a lost server is one only when another server's agent says so; the agents already sent the webhooks and stand in
 * for lost replicas, so neither happens from here), and a probe failure from this laptop only shows in the snapshot.
 *
 * A server without an agent is watched from here as before: the engine, containers, readiness, memory and disk,
 * Docker's container events so crashes and OOM kills between polls are caught; it is alerted as unreachable after
 * `unreachableAfter` consecutive failed probes, and losing it (and getting it back) calls the injected recovery once
 * per incident. A probe that comes much too late (the laptop slept) counts no failure and raises nothing.
 */
export function createMonitor(deps: MonitorDeps) {
  const intervalMs = deps.intervalMs ?? 2000;
  const viewIntervalMs = deps.viewIntervalMs ?? 5000;
  const now = deps.now ?? Date.now;
  const livenessTimeoutMs = deps.livenessTimeoutMs ?? 2000;
  const detect: DetectOptions = { ...defaultDetectOptions, ...deps.detect };
  const states = new Map<number, ServerState>();
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  let recovery = deps.recovery;
  let running: AbortController | null = null;
  let lastKey = '';

  const changed = () => {
    const snap = snapshot();
    const key = JSON.stringify(snap.servers.map((s) => ({ ...s, checkedAt: null, latencyMs: null, agent: s.agent ? { ...s.agent, at: null, ageSeconds: null } : s.agent })));
    if (key === lastKey) return;
    lastKey = key;
    changes.emit('snapshot', snap);
  };

  function dropConnection(state: ServerState): void {
    if (state.events) closeTied(state.events);
    state.events = null;
    state.ssh?.close();
    state.ssh = null;
  }

  const agentBacked = (state: ServerState) => state.agent !== null;

  function closeEvents(state: ServerState): void {
    if (state.events) closeTied(state.events);
    state.events = null;
  }

  /** One probe of one server; `resumed`: Berth itself was not running for a while, so a failure now says nothing. */
  async function tick(state: ServerState, resumed: boolean): Promise<void> {
    const started = performance.now();
    const wasDown = state.reachable === false;
    try {
      if (!state.ssh?.isOpen) {
        state.ssh = null;
        state.ssh = await withTimeout(deps.open(state.id, { readyTimeoutMs: livenessTimeoutMs }), livenessTimeoutMs + 500, state.host);
      }
      // SshConnection's own timeout starts once the channel is open; on a cut link the open never answers.
      const out = await withTimeout(state.ssh.run(LIVENESS, { timeoutMs: livenessTimeoutMs }), livenessTimeoutMs, state.host);
      if (!/berth-alive|may run:/.test(out)) throw new BerthError('SshUnreachable', 'unexpected answer to the liveness probe');
    } catch (err) {
      if (state.stop.signal.aborted) return;
      dropConnection(state);
      state.reachable = false;
      state.error = BerthError.from(err).message;
      state.checkedAt = new Date().toISOString();
      // An agent-backed server is judged by its peers' agents; a blip between this laptop and it is no alert.
      if (!agentBacked(state) && !resumed) {
        state.failures++;
        if (state.failures >= detect.unreachableAfter) {
          const { opened } = deps.center.reconcile(state.id, REACHABILITY, [unreachableCondition(state.name, state.error, state.failures)]);
          for (const alert of opened) recover(state, alert.id, 'server-lost');
        }
      }
      changed();
      return;
    }
    if (state.stop.signal.aborted) return;
    state.failures = 0;
    state.latencyMs = Math.round((performance.now() - started) * 10) / 10;
    state.checkedAt = new Date().toISOString();
    state.reachable = true;
    state.error = null;
    if (state.viewReadAt === null || now() - state.viewReadAt >= viewIntervalMs) await readView(state);
    if (state.stop.signal.aborted) return;
    if (agentBacked(state)) {
      closeEvents(state);
      reconcileAgents();
    } else {
      const { resolved } = deps.center.reconcile(state.id, REACHABILITY, []);
      for (const alert of resolved) if (alert.kind === 'server_unreachable' && postsWebhook(alert)) recover(state, alert.id, 'server-returned');
      ensureEvents(state);
      void details(state);
    }
    if (wasDown) deps.onServerReturned?.(state.id);
    changed();
  }

  /** Reads the agent's view and its age; a failed or garbled read changes nothing (the previous answer stands). */
  async function readView(state: ServerState): Promise<void> {
    const ssh = state.ssh;
    if (!ssh) return;
    state.viewReadAt = now();
    let out: string;
    try {
      out = await withTimeout(ssh.run(agentCommands.viewWithAge(deps.layout), { timeoutMs: 5000 }), 5000, state.host);
    } catch {
      return;
    }
    if (state.ssh !== ssh || state.stop.signal.aborted) return;
    const reading = parseViewOutput(out);
    if (reading.kind === 'unreadable') return;
    const was = agentBacked(state);
    state.agent = isFresh(reading) ? { view: reading.view, ageSeconds: reading.ageSeconds } : null;
    if (was !== agentBacked(state)) {
      deps.events.record({
        kind: agentBacked(state) ? 'monitor.agent-found' : 'monitor.agent-lost',
        subject: state.name,
        message: agentBacked(state)
          ? `${state.name} runs the server agent: its alerts now come from the agents`
          : `${state.name} has no fresh agent view (${reading.kind === 'none' ? 'none written' : `${reading.ageSeconds} s old`}): Berth watches it itself`,
      });
      // Alerts of the agents about it go (they are judged by this Berth again), or the desktop's own ones do.
      reconcileAgents(was && !agentBacked(state) ? state.id : undefined);
    }
  }

  /**
   * The alerts of every agent-backed server, from the open incidents of all the fresh views: one set, so the same
   * incident reported by two agents is one alert. `released`: a server that just lost its agent, whose agent-made
   * alerts are resolved here (its own detection takes over).
   */
  function reconcileAgents(released?: number): void {
    const backed = [...states.values()].filter(agentBacked);
    const scope = new Set(backed.map((s) => s.id));
    const known = [...states.values()].map((s) => ({ id: s.id, name: s.name, host: s.host }));
    const conditions = agentConditions(
      backed.map((s) => ({ server: { id: s.id, name: s.name, host: s.host }, view: s.agent!.view })),
      known,
    ).filter((c) => scope.has(c.serverId)); // a server without an agent is judged by this Berth alone
    if (released !== undefined) scope.add(released);
    // Every monitored kind: what this Berth detected itself before the server had an agent is the agents' to judge now.
    const { resolved } = deps.center.reconcileMany(scope, MONITORED_KINDS, conditions);
    for (const alert of resolved) {
      // A lost server the desktop itself had restored (before its agent ran) is rebalanced as before.
      const state = alert.serverId === null ? undefined : states.get(alert.serverId);
      if (state && alert.kind === 'server_unreachable' && postsWebhook(alert)) recover(state, alert.id, 'server-returned');
    }
  }

  function recover(state: ServerState, alertId: number, reason: 'server-lost' | 'server-returned'): void {
    const hooks = recovery;
    if (!hooks) return;
    for (const group of deps.groupsOfServer(state.id)) {
      const what = reason === 'server-lost' ? `restore ${group.name} without ${state.name}` : `rebalance ${group.name} now that ${state.name} is back`;
      deps.events.record({ kind: 'recovery.requested', subject: group.name, message: `Asked the orchestrator to ${what}`, detail: { groupId: group.id, serverId: state.id, reason }, alertId });
      Promise.resolve()
        .then(() => hooks.restoreGroup(group.id, { reason, serverId: state.id, server: state.name, alertId }))
        .then(
          () => void deps.events.record({ kind: 'recovery.succeeded', subject: group.name, message: `Recovery of ${group.name} (${reason}) finished`, detail: { groupId: group.id, reason }, alertId }),
          (err) =>
            void deps.events.record({
              kind: 'recovery.failed',
              subject: group.name,
              message: `Recovery of ${group.name} (${reason}) failed: ${BerthError.from(err).message}`,
              detail: { groupId: group.id, reason },
              alertId,
            }),
        )
        .catch(() => undefined); // Berth was closed meanwhile
    }
  }

  function track(state: ServerState, containerId: string): ReplicaTrack {
    let t = state.tracks.get(containerId);
    if (!t) state.tracks.set(containerId, (t = newTrack()));
    return t;
  }

  function ensureEvents(state: ServerState): void {
    const ssh = state.ssh;
    if (state.events || state.eventsOpening || !ssh) return;
    const since = state.lastEventNano === null ? null : state.lastEventNano / 1e9;
    state.eventsOpening = true;
    ssh.stream(tiedToChannel(eventsCommand(since))).then(
      (channel) => {
        state.eventsOpening = false;
        if (state.ssh !== ssh || state.stop.signal.aborted) {
          closeTied(channel);
          return;
        }
        state.events = channel;
        const lines = lineSplitter((line) => {
          const event = parseEvent(line);
          if (!event) return;
          if (state.lastEventNano !== null && event.timeNano <= state.lastEventNano) return; // replayed by --since
          state.lastEventNano = event.timeNano;
          if (event.action === 'destroy') return; // the next poll forgets containers that are gone
          // The server's clock may differ from ours: judge by when the event reached us.
          applyEvent(track(state, event.id), { ...event, at: Date.now() });
          if (event.action === 'die' || event.action === 'oom' || event.action === 'start') void details(state);
        });
        channel.on('data', (chunk: Buffer) => lines.push(chunk));
        channel.on('close', () => {
          if (state.events === channel) state.events = null;
        });
      },
      () => {
        state.eventsOpening = false;
      },
    );
  }

  /** Engine, containers, readiness, memory and disk; at most one run per server at a time (a request during a run repeats it). */
  async function details(state: ServerState): Promise<void> {
    if (state.detailsRunning) {
      state.detailsAgain = true;
      return;
    }
    state.detailsRunning = true;
    try {
      do {
        state.detailsAgain = false;
        await detailsOnce(state);
      } while (state.detailsAgain && !state.stop.signal.aborted && state.reachable);
    } finally {
      state.detailsRunning = false;
    }
  }

  async function detailsOnce(state: ServerState): Promise<void> {
    const ssh = state.ssh;
    if (!ssh || agentBacked(state)) return;
    let info: ServerDetails;
    let runtime: RuntimeProbe;
    try {
      info = parseDetails(await ssh.run(DETAILS_COMMAND, { timeoutMs: 10_000 }));
      const gateway = info.containers.find((c) => c.name === GATEWAY_CONTAINER);
      runtime = info.engineOk
        ? parseRuntime(await ssh.run(runtimeCommand(info.containers), { timeoutMs: 8000 }), gateway?.running === true)
        : { ready: new Map(), memory: new Map() };
    } catch {
      return; // the liveness probe decides whether the server is down
    }
    if (state.ssh !== ssh || state.stop.signal.aborted || agentBacked(state)) return;
    const now = Date.now();
    state.details = info;
    state.runtime = runtime;
    const conditions: Condition[] = [];
    const present = new Set<string>([state.name]);
    const gateway = info.containers.find((c) => c.name === GATEWAY_CONTAINER);
    conditions.push(
      ...serverConditions(state.name, info, { exists: gateway !== undefined, running: gateway?.running === true, status: runtime.gateway }, detect),
    );
    if (info.engineOk) {
      for (const c of info.containers) {
        if (c.name === GATEWAY_CONTAINER) continue;
        present.add(`${state.name}/${c.name}`);
        const t = track(state, c.id);
        applyPoll(t, c, runtime, now, detect);
        conditions.push(...replicaConditions(state.name, c, t, runtime, now, detect));
      }
      const ids = new Set(info.containers.map((c) => c.id));
      for (const id of state.tracks.keys()) if (!ids.has(id)) state.tracks.delete(id);
    }
    // With the engine down nothing can be said about replicas: only server-level kinds are judged.
    const kinds = info.engineOk ? DETAIL_KINDS : (['engine_down', 'gateway_down', 'disk_low'] as const);
    deps.center.reconcile(state.id, kinds, conditions, (subject) => !info.engineOk || present.has(subject));
    changed();
  }

  async function serverLoop(state: ServerState): Promise<void> {
    const signal = state.stop.signal;
    while (!signal.aborted) {
      const started = now();
      // A tick this late means Berth was not running (the laptop slept, the process was stopped), not that the
      // server failed: its link may need a moment, so the count restarts and this tick raises nothing.
      const resumed = state.lastTickAt !== null && started - state.lastTickAt > intervalMs + detect.resumeLateMs;
      if (resumed) {
        state.failures = 0;
        deps.events.record({
          kind: 'monitor.resumed',
          subject: state.name,
          message: `Probes of ${state.name} resumed after ${Math.round((started - state.lastTickAt!) / 1000)} s (Berth was asleep or paused); failures are counted afresh`,
        });
      }
      state.lastTickAt = started;
      await tick(state, resumed);
      const wait = Math.max(0, intervalMs - (now() - started));
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
    dropConnection(state);
  }

  function syncServers(): void {
    const servers = deps.listServers();
    const ids = new Set(servers.map((s) => s.id));
    for (const server of servers) {
      const existing = states.get(server.id);
      if (existing) {
        existing.name = server.name;
        existing.host = server.host;
        continue;
      }
      const state: ServerState = {
        ...server,
        ssh: null,
        reachable: null,
        error: null,
        latencyMs: null,
        checkedAt: null,
        details: null,
        runtime: null,
        tracks: new Map(),
        events: null,
        eventsOpening: false,
        lastEventNano: null,
        detailsRunning: false,
        detailsAgain: false,
        stop: new AbortController(),
        failures: 0,
        lastTickAt: null,
        agent: null,
        viewReadAt: null,
      };
      states.set(server.id, state);
      void serverLoop(state);
    }
    for (const [id, state] of states) {
      if (ids.has(id)) continue;
      state.stop.abort();
      states.delete(id);
    }
    deps.center.resolveRemoved(ids);
  }

  function start(): void {
    if (running) return;
    const controller = new AbortController();
    running = controller;
    void (async () => {
      while (!controller.signal.aborted) {
        syncServers();
        await sleep(Math.max(intervalMs, 1000), undefined, { signal: controller.signal }).catch(() => undefined);
      }
    })();
  }

  function stop(): void {
    running?.abort();
    running = null;
    for (const state of states.values()) {
      state.stop.abort();
      dropConnection(state);
    }
    states.clear();
  }

  function replicaHealth(state: ServerState): ReplicaHealth[] {
    const runtime = state.runtime ?? { ready: new Map(), memory: new Map() };
    return (state.details?.containers ?? [])
      .filter((c) => c.name !== GATEWAY_CONTAINER)
      .map((c) => {
        const t = state.tracks.get(c.id);
        return {
          container: c.name,
          model: c.model,
          version: c.version,
          replica: c.replica,
          port: c.port,
          state: c.state,
          exitCode: c.exitCode,
          restartCount: c.restartCount,
          oomKilled: c.oomKilled || (t?.crashes.at(-1)?.oom ?? false),
          ready: readyOf(c, runtime),
          memoryLimitBytes: c.memoryLimitBytes,
          memoryUsageBytes: t?.usageBytes ?? null,
          memoryPeakBytes: t?.peakBytes ?? null,
          startedAt: c.startedAt,
        };
      });
  }

  function serverHealth(state: ServerState): ServerHealth {
    const agent = state.agent ? agentSummary(state.agent.view, state.agent.ageSeconds) : null;
    if (state.agent) {
      // What the agent reports: engine, gateway and disk are not in its view.
      return {
        serverId: state.id,
        name: state.name,
        host: state.host,
        reachable: state.reachable === true,
        engine: 'unknown',
        gateway: 'unknown',
        diskFreeBytes: null,
        diskTotalBytes: null,
        latencyMs: state.latencyMs,
        error: state.error,
        checkedAt: state.checkedAt,
        replicas: replicasFromView(state.agent.view),
        agent,
      };
    }
    const gatewayInfo = state.details?.containers.find((c) => c.name === GATEWAY_CONTAINER);
    const reachable = state.reachable === true;
    return {
      serverId: state.id,
      name: state.name,
      host: state.host,
      reachable,
      engine: !reachable || !state.details ? 'unknown' : state.details.engineOk ? 'up' : 'down',
      gateway: !reachable || !state.details ? 'unknown' : !gatewayInfo ? 'absent' : state.runtime?.gateway === 200 ? 'up' : 'down',
      diskFreeBytes: state.details?.diskFreeBytes ?? null,
      diskTotalBytes: state.details?.diskTotalBytes ?? null,
      latencyMs: state.latencyMs,
      error: state.error,
      checkedAt: state.checkedAt,
      replicas: replicaHealth(state),
      agent: null,
    };
  }

  function snapshot(): MonitorSnapshot {
    return { servers: [...states.values()].sort((a, b) => a.name.localeCompare(b.name)).map(serverHealth), at: new Date().toISOString() };
  }

  /** The dashboard stream: a snapshot now and after every change. */
  async function watch(emit: (snapshot: MonitorSnapshot) => void, signal: AbortSignal): Promise<void> {
    emit(snapshot());
    try {
      for await (const [snap] of on(changes, 'snapshot', { signal })) emit(snap as MonitorSnapshot);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  return {
    start,
    stop,
    snapshot,
    watch,
    get running() {
      return running !== null;
    },
    /** The deploy orchestrator installs its recovery here once it is composed. */
    setRecovery(hooks: RecoveryHooks | undefined) {
      recovery = hooks;
    },
  };
}
export type Monitor = ReturnType<typeof createMonitor>;

/** Rejects after `ms` whatever the promise does (a late connection is closed when it arrives). */
function withTimeout<T>(promise: Promise<T>, ms: number, host: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BerthError('SshUnreachable', `${host} did not answer within ${ms} ms`)), ms);
  });
  promise.then(
    (value) => {
      // Resolved after the timeout: nobody owns it any more.
      if (timer === undefined && value && typeof (value as { close?: unknown }).close === 'function') (value as unknown as { close(): void }).close();
    },
    () => undefined,
  );
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
    timer = undefined;
  });
}
