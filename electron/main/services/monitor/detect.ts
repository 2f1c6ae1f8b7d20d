import type { AlertKind } from '../../../../shared/monitor';
import type { ContainerEvent, ContainerInfo, RuntimeProbe } from './probe';

/** A condition that should have an open alert while it lasts. */
export interface Condition {
  kind: AlertKind;
  subject: string;
  severity: 'critical' | 'warning';
  message: string;
  detail?: unknown;
  /**
   * false: the alert is not posted to the group's webhooks (it came from the server agents, which sent it
   * already); the event trail, the UI and desktop notifications still get it. Default: posted.
   */
  webhook?: boolean;
}

export interface DetectOptions {
  /** Free space under Docker's root below this fraction is "nearly full". */
  diskLowFraction: number;
  /** A crashed replica's alert resolves once it has been running and ready this long. */
  stableMs: number;
  /** This many crashes within `loopWindowMs` is a crash loop. */
  loopCrashes: number;
  loopWindowMs: number;
  /** A running replica may answer /readyz with non-200 this long (model loading) before it is alerted. */
  notReadyGraceMs: number;
  /** A server without an agent is alerted as unreachable after this many consecutive failed probes (never one blip). */
  unreachableAfter: number;
  /**
   * A probe that starts more than the interval plus this late means Berth itself was not running (the laptop slept,
   * the process was stopped): the failure count restarts and that probe raises nothing.
   */
  resumeLateMs: number;
}

export const defaultDetectOptions: DetectOptions = {
  diskLowFraction: 0.1,
  stableMs: 10_000,
  loopCrashes: 3,
  loopWindowMs: 120_000,
  notReadyGraceMs: 15_000,
  unreachableAfter: 3,
  resumeLateMs: 5000,
};

interface Crash {
  at: number;
  exitCode: number | null;
  oom: boolean;
}

/** What the monitor remembers about one container between polls. */
export interface ReplicaTrack {
  crashes: Crash[];
  lastRestartCount: number | null;
  /** Crashes reported by events since the last poll (so restart-count deltas are not counted twice). */
  crashesSincePoll: number;
  stoppingAt: number | null;
  oomAt: number | null;
  notReadySince: number | null;
  peakBytes: number | null;
  usageBytes: number | null;
}

export const newTrack = (): ReplicaTrack => ({
  crashes: [],
  lastRestartCount: null,
  crashesSincePoll: 0,
  stoppingAt: null,
  oomAt: null,
  notReadySince: null,
  peakBytes: null,
  usageBytes: null,
});

const OOM_PAIRING_MS = 5000;
const STOP_PAIRING_MS = 30_000;

/** Folds one Docker event into the container's track: a die after a kill is a stop, not a crash. */
export function applyEvent(track: ReplicaTrack, event: ContainerEvent): void {
  if (event.action === 'kill') track.stoppingAt = event.at;
  else if (event.action === 'oom') {
    track.oomAt = event.at;
    const last = track.crashes.at(-1);
    if (last && Math.abs(last.at - event.at) <= OOM_PAIRING_MS) last.oom = true;
  } else if (event.action === 'die') {
    const stopped = track.stoppingAt !== null && event.at - track.stoppingAt <= STOP_PAIRING_MS;
    track.stoppingAt = null;
    const oom = track.oomAt !== null && Math.abs(event.at - track.oomAt) <= OOM_PAIRING_MS;
    if (stopped && !oom) return;
    if (event.exitCode === 0 && !oom) return;
    track.crashes.push({ at: event.at, exitCode: event.exitCode, oom });
    track.crashesSincePoll++;
  }
}

/** Folds a poll into the track: restarts the event stream missed, readiness, memory. */
export function applyPoll(track: ReplicaTrack, info: ContainerInfo, runtime: RuntimeProbe, now: number, options = defaultDetectOptions): void {
  if (track.lastRestartCount !== null && info.restartCount > track.lastRestartCount) {
    const missed = info.restartCount - track.lastRestartCount - track.crashesSincePoll;
    for (let i = 0; i < missed; i++) track.crashes.push({ at: now, exitCode: info.exitCode, oom: info.oomKilled });
  }
  track.lastRestartCount = info.restartCount;
  track.crashesSincePoll = 0;
  track.crashes = track.crashes.filter((c) => now - c.at <= Math.max(options.loopWindowMs, options.stableMs) * 5);
  const ready = readyOf(info, runtime);
  track.notReadySince = ready === false ? (track.notReadySince ?? now) : null;
  const [usage, peak] = runtime.memory.get(info.id) ?? [null, null];
  track.usageBytes = usage;
  const highest = Math.max(usage ?? 0, peak ?? 0, track.peakBytes ?? 0);
  track.peakBytes = highest > 0 ? highest : null;
}

export function readyOf(info: ContainerInfo, runtime: RuntimeProbe): boolean | null {
  if (!info.running || info.port === null || info.model === null) return null;
  return runtime.ready.get(info.id) === 200;
}

const mib = (bytes: number | null) => (bytes === null ? 'unknown' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** The replica conditions of one container, from its track and latest state. */
export function replicaConditions(
  server: string,
  info: ContainerInfo,
  track: ReplicaTrack,
  runtime: RuntimeProbe,
  now: number,
  options = defaultDetectOptions,
): Condition[] {
  const subject = `${server}/${info.name}`;
  const conditions: Condition[] = [];
  const ready = readyOf(info, runtime);
  const healthy = info.running && !info.restarting && ready !== false;
  const last = track.crashes.at(-1);
  const recent = track.crashes.filter((c) => now - c.at <= options.loopWindowMs);
  const gaveUp = !info.running && !info.restarting && info.restartPolicy === 'on-failure' && info.exitCode !== 0 && info.maxRetries > 0 && info.restartCount >= info.maxRetries;
  const detail = {
    server,
    container: info.name,
    model: info.model,
    version: info.version,
    restartCount: info.restartCount,
    exitCode: last?.exitCode ?? info.exitCode,
    memoryLimitBytes: info.memoryLimitBytes,
    memoryPeakBytes: track.peakBytes,
  };

  const looping = recent.length >= options.loopCrashes || gaveUp;
  if (looping && (!healthy || (last && now - last.at < options.stableMs))) {
    const ooms = recent.filter((c) => c.oom).length;
    conditions.push({
      kind: 'replica_crash_loop',
      subject,
      severity: 'critical',
      message: gaveUp
        ? `${info.name} on ${server} keeps crashing: Docker gave up after ${info.restartCount} restarts (exit ${info.exitCode})`
        : `${info.name} on ${server} is crashing in a loop: ${recent.length} crashes in ${Math.round(options.loopWindowMs / 1000)} s` +
          (ooms ? ` (${ooms} out of memory)` : ''),
      detail: { ...detail, crashes: recent.length },
    });
  }
  if (last && (now - last.at < options.stableMs || !healthy)) {
    if (last.oom) {
      conditions.push({
        kind: 'replica_oom',
        subject,
        severity: 'critical',
        message:
          `${info.name} on ${server} was killed for running out of memory (limit ${mib(info.memoryLimitBytes)}, ` +
          `peak seen ${mib(track.peakBytes)})` +
          (info.restartCount ? `; Docker restarted it (restart ${info.restartCount})` : ''),
        detail,
      });
    } else if (!looping) {
      conditions.push({
        kind: 'replica_crashed',
        subject,
        severity: 'warning',
        message:
          `${info.name} on ${server} crashed (exit ${last.exitCode ?? 'unknown'})` +
          (info.running || info.restarting ? `; Docker restarted it (restart ${info.restartCount})` : ' and is not running'),
        detail,
      });
    }
  }
  if (ready === false && track.notReadySince !== null && now - track.notReadySince >= options.notReadyGraceMs) {
    conditions.push({
      kind: 'replica_not_ready',
      subject,
      severity: 'warning',
      message: `${info.name} on ${server} has not been ready for ${Math.round((now - track.notReadySince) / 1000)} s (/readyz on port ${info.port})`,
      detail,
    });
  }
  return conditions;
}

/** The server-level conditions once the server answered. */
export function serverConditions(
  server: string,
  details: { engineOk: boolean; engineError: string | null; diskFreeBytes: number | null; diskTotalBytes: number | null },
  gateway: { exists: boolean; running: boolean; status: number | null | undefined },
  options = defaultDetectOptions,
): Condition[] {
  const conditions: Condition[] = [];
  if (!details.engineOk) {
    conditions.push({ kind: 'engine_down', subject: server, severity: 'critical', message: `Docker on ${server} does not answer: ${details.engineError}` });
    return conditions;
  }
  if (gateway.exists && (!gateway.running || gateway.status !== 200)) {
    conditions.push({
      kind: 'gateway_down',
      subject: server,
      severity: 'critical',
      message: !gateway.running
        ? `The gateway on ${server} is not running`
        : `The gateway on ${server} does not answer /_berth/health${gateway.status ? ` (HTTP ${gateway.status})` : ''}`,
    });
  }
  const { diskFreeBytes: free, diskTotalBytes: total } = details;
  if (free !== null && total) {
    const fraction = free / total;
    if (fraction < options.diskLowFraction) {
      conditions.push({
        kind: 'disk_low',
        subject: server,
        severity: 'warning',
        message: `${server} has ${(fraction * 100).toFixed(1)}% disk free under Docker's root (${(free / 1e9).toFixed(1)} GB of ${(total / 1e9).toFixed(1)} GB)`,
        detail: { freeBytes: free, totalBytes: total },
      });
    }
  }
  return conditions;
}

export const unreachableCondition = (server: string, error: string, failedProbes = 1): Condition => ({
  kind: 'server_unreachable',
  subject: server,
  severity: 'critical',
  message: `${server} does not answer over SSH: ${error}`,
  detail: { failedProbes },
});

/** The message stored when an alert's condition clears. */
export function resolvedMessage(kind: AlertKind, subject: string, openedAt: string, now: number, gone = false): string {
  const lasted = Math.max(0, Math.round((now - Date.parse(openedAt)) / 1000));
  const duration = lasted < 120 ? `${lasted} s` : `${Math.round(lasted / 60)} min`;
  if (gone) return `${subject} no longer exists (after ${duration})`;
  switch (kind) {
    case 'server_unreachable':
      return `${subject} answers again (it was unreachable for ${duration})`;
    case 'engine_down':
      return `Docker on ${subject} answers again (after ${duration})`;
    case 'gateway_down':
      return `The gateway on ${subject} is healthy again (after ${duration})`;
    case 'disk_low':
      return `${subject} has enough free disk again`;
    case 'certificate_expiring':
      return `${subject} was renewed (after ${duration})`;
    default:
      return `${subject} is running and ready again (after ${duration})`;
  }
}
