/**
 * The server agents' views (docs/AGENT.md, "The view") as the desktop monitor reads them over SSH: parsing, the
 * alerts they stand for, and what the health snapshot shows of them.
 */
import type { AgentSummary, ReplicaHealth } from '../../../../shared/monitor';
import type { Condition } from './detect';

/** A view older than this (seconds, the server's clock) is stale: the server counts as having no agent. */
export const FRESH_VIEW_SECONDS = 15;

export type PeerState = 'up' | 'lost' | 'unknown';

export interface ViewPeer {
  uid: string;
  name: string;
  host: string;
  state: PeerState;
}

export interface ViewIncident {
  id: string;
  kind: string;
  server: string | null;
  model: string | null;
  version: number | null;
  openedAt: string | null;
  resolvedAt: string | null;
  text: string;
}

export interface ViewGroup {
  leader: string | null;
  peers: ViewPeer[];
  incidents: ViewIncident[];
  standIns: Array<{ model: string; version: number; for: string; on: string }>;
}

export interface ViewReplica {
  name: string;
  model: string | null;
  version: number | null;
  port: number | null;
  running: boolean;
  ready: boolean | null;
  restarts: number;
  oomKilled: boolean;
  standInFor: string | null;
}

export interface AgentView {
  uid: string;
  at: string;
  caughtUp: boolean;
  groups: Record<string, ViewGroup>;
  replicas: ViewReplica[];
}

/** What one read of `agentCommands.viewWithAge` found. */
export type ViewReading = { kind: 'none' } | { kind: 'view'; ageSeconds: number; view: AgentView } | { kind: 'unreadable'; reason: string };

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const peerState = (v: unknown): PeerState => (v === 'up' || v === 'lost' ? v : 'unknown');

function toIncident(value: unknown): ViewIncident | null {
  const i = obj(value);
  const kind = str(i.kind);
  if (!kind) return null;
  return {
    id: str(i.id) ?? '',
    kind,
    server: str(i.server),
    model: str(i.model),
    version: num(i.version),
    openedAt: str(i.openedAt),
    resolvedAt: str(i.resolvedAt),
    text: str(i.text) ?? '',
  };
}

/** The view's JSON, read defensively: a field of another type counts as absent. */
export function parseView(value: unknown): AgentView | null {
  const v = obj(value);
  const uid = str(v.uid);
  if (!uid) return null;
  const groups: Record<string, ViewGroup> = {};
  for (const [name, raw] of Object.entries(obj(v.groups))) {
    const g = obj(raw);
    groups[name] = {
      leader: str(g.leader),
      peers: arr(g.peers)
        .map(obj)
        .filter((p) => str(p.uid))
        .map((p) => ({ uid: str(p.uid)!, name: str(p.name) ?? str(p.uid)!, host: str(p.host) ?? '', state: peerState(p.state) })),
      incidents: arr(g.incidents).map(toIncident).filter((i): i is ViewIncident => i !== null),
      standIns: arr(g.standIns)
        .map(obj)
        .map((s) => ({ model: str(s.model) ?? '', version: num(s.version) ?? 0, for: str(s.for) ?? '', on: str(s.on) ?? '' })),
    };
  }
  return {
    uid,
    at: str(v.at) ?? '',
    caughtUp: v.caughtUp === true,
    groups,
    replicas: arr(v.replicas)
      .map(obj)
      .filter((r) => str(r.name))
      .map((r) => ({
        name: str(r.name)!,
        model: str(r.model),
        version: num(r.version),
        port: num(r.port),
        running: r.running === true,
        ready: typeof r.ready === 'boolean' ? r.ready : null,
        restarts: num(r.restarts) ?? 0,
        oomKilled: r.oomKilled === true,
        standInFor: str(r.standInFor),
      })),
  };
}

/** The output of `agentCommands.viewWithAge`: the age on the first line ("none": no view), the view after it. */
export function parseViewOutput(text: string): ViewReading {
  const newline = text.indexOf('\n');
  const first = (newline < 0 ? text : text.slice(0, newline)).trim();
  if (first === 'none') return { kind: 'none' };
  if (!/^-?\d+$/.test(first)) return { kind: 'unreadable', reason: `unexpected answer: ${first.slice(0, 80)}` };
  let json: unknown;
  try {
    json = JSON.parse(newline < 0 ? '' : text.slice(newline + 1));
  } catch {
    return { kind: 'unreadable', reason: 'the view is not JSON (being rewritten?)' };
  }
  const view = parseView(json);
  if (!view) return { kind: 'unreadable', reason: 'the view has no uid' };
  return { kind: 'view', ageSeconds: Math.max(0, Number(first)), view };
}

export const isFresh = (reading: ViewReading): reading is Extract<ViewReading, { kind: 'view' }> =>
  reading.kind === 'view' && reading.ageSeconds <= FRESH_VIEW_SECONDS;

export interface KnownServer {
  id: number;
  name: string;
  host: string;
}

/** One server's latest fresh view. */
export interface AgentReading {
  server: KnownServer;
  view: AgentView;
}

/** A condition and the Berth server it belongs to. */
export interface PlacedCondition {
  serverId: number;
  condition: Condition;
}

const REPLICA_KINDS = new Set(['replica_crash_loop', 'replica_oom']);

/**
 * The alerts the agents' open incidents stand for. Agent uids are mapped to Berth's servers by the view each server
 * wrote itself, else by the peers' host, else by their name; incidents about servers Berth does not know are left
 * out. The same incident seen by several agents is one condition (the first reading, in server order, places it).
 * Every condition is marked `webhook: false`: the group's leader agent sent it already.
 */
export function agentConditions(readings: AgentReading[], servers: KnownServer[]): PlacedCondition[] {
  const byUid = new Map<string, KnownServer>();
  for (const r of readings) byUid.set(r.view.uid, r.server);
  const resolveUid = (uid: string | null): KnownServer | null => {
    if (!uid) return null;
    const own = byUid.get(uid);
    if (own) return own;
    for (const r of readings) {
      for (const g of Object.values(r.view.groups)) {
        const peer = g.peers.find((p) => p.uid === uid);
        if (!peer) continue;
        const found = servers.find((s) => peer.host && s.host === peer.host) ?? servers.find((s) => s.name === peer.name);
        if (found) return found;
      }
    }
    return null;
  };

  const placed = new Map<string, PlacedCondition>();
  const ordered = [...readings].sort((a, b) => a.server.id - b.server.id);
  for (const reading of ordered) {
    for (const [group, g] of Object.entries(reading.view.groups).sort(([a], [b]) => a.localeCompare(b))) {
      for (const incident of g.incidents) {
        if (incident.resolvedAt) continue;
        const detail = { source: 'berth-agent', group, incident: incident.id, reportedBy: reading.server.name, openedAt: incident.openedAt };
        let entry: PlacedCondition | null = null;
        if (incident.kind === 'server_lost') {
          const lost = resolveUid(incident.server);
          if (!lost) continue;
          entry = {
            serverId: lost.id,
            condition: {
              kind: 'server_unreachable',
              subject: lost.name,
              severity: 'critical',
              message: incident.text || `${lost.name} does not answer its peers in ${group} (reported by the agent on ${reading.server.name})`,
              detail,
              webhook: false,
            },
          };
        } else if (REPLICA_KINDS.has(incident.kind)) {
          const on = resolveUid(incident.server);
          const owner = on ?? resolveUid(g.leader) ?? reading.server;
          const what = `${incident.model ?? 'unknown model'} v${incident.version ?? '?'}`;
          entry = {
            serverId: owner.id,
            condition: {
              kind: incident.kind as 'replica_crash_loop' | 'replica_oom',
              subject: `${on ? on.name : group}/${what}`,
              severity: 'critical',
              message: incident.text || `${what} ${incident.kind === 'replica_oom' ? 'was killed for running out of memory' : 'is crashing in a loop'}${on ? ` on ${on.name}` : ` in ${group}`}`,
              detail: { ...detail, model: incident.model, version: incident.version, server: on?.name ?? null },
              webhook: false,
            },
          };
        }
        if (!entry) continue;
        const key = `${entry.condition.kind}\u0000${entry.condition.subject}`;
        if (!placed.has(key)) placed.set(key, entry);
      }
    }
  }
  return [...placed.values()];
}

/** The replicas of a server as its agent reports them; what the view does not say is null. */
export function replicasFromView(view: AgentView): ReplicaHealth[] {
  return view.replicas.map((r) => {
    const index = /-r(\d+)$/.exec(r.name);
    return {
      container: r.name,
      model: r.model,
      version: r.version,
      replica: index ? Number(index[1]) : null,
      port: r.port,
      state: r.running ? 'running' : 'exited',
      exitCode: null,
      restartCount: r.restarts,
      oomKilled: r.oomKilled,
      ready: r.running ? r.ready : null,
      memoryLimitBytes: null,
      memoryUsageBytes: null,
      memoryPeakBytes: null,
      startedAt: null,
    };
  });
}

/** The one-line agent summary of the health snapshot. */
export function agentSummary(view: AgentView, ageSeconds: number): AgentSummary {
  const peers = new Map<string, { name: string; state: PeerState }>();
  const incidents = new Set<string>();
  for (const g of Object.values(view.groups)) {
    for (const p of g.peers) {
      const seen = peers.get(p.uid);
      // A peer lost in one group is lost.
      if (!seen || p.state === 'lost' || (p.state === 'up' && seen.state === 'unknown')) peers.set(p.uid, { name: p.name, state: p.state });
    }
    for (const i of g.incidents) if (!i.resolvedAt) incidents.add(i.id || `${i.kind}:${i.server}:${i.model}:${i.version}`);
  }
  return {
    at: view.at,
    ageSeconds,
    leader: Object.values(view.groups).some((g) => g.leader === view.uid),
    caughtUp: view.caughtUp,
    peers: [...peers.values()].sort((a, b) => a.name.localeCompare(b.name)),
    incidents: incidents.size,
    standIns: view.replicas.filter((r) => r.standInFor).length,
  };
}
