import { docker, type RemoteCommand } from '../remote/command';
import { shellQuote } from '../transport/ssh';

/** What `docker inspect` tells about one Berth container (the fields the monitor uses). */
export interface ContainerInfo {
  id: string;
  name: string;
  state: string;
  running: boolean;
  restarting: boolean;
  oomKilled: boolean;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  restartCount: number;
  restartPolicy: string;
  maxRetries: number;
  memoryLimitBytes: number | null;
  model: string | null;
  version: number | null;
  replica: number | null;
  port: number | null;
}

export interface ServerDetails {
  engineOk: boolean;
  engineError: string | null;
  diskFreeBytes: number | null;
  diskTotalBytes: number | null;
  containers: ContainerInfo[];
}

export interface RuntimeProbe {
  /** container id → /readyz status code (null: no answer) */
  ready: Map<string, number | null>;
  /** container id → [usage, peak] in bytes */
  memory: Map<string, [number | null, number | null]>;
  /** /_berth/health status code; undefined when there is no gateway container */
  gateway?: number | null;
}

export const GATEWAY_CONTAINER = 'berth-gateway';
export const DEFAULT_GATEWAY_PORT = 8700;

/** One round trip: the engine answers, the Berth containers' full state, free space under Docker's root. */
export const DETAILS_COMMAND = [
  `ids=$(timeout 5 docker ps -aq --no-trunc --filter name=berth- 2>&1); rc=$?`,
  `echo "@ps $rc"`,
  `if [ $rc != 0 ]; then echo "$ids" | head -n 3; exit 0; fi`,
  `root=$(timeout 3 docker info --format '{{.DockerRootDir}}' 2>/dev/null)`,
  `echo "@df $(df -P -B1 "\${root:-/var/lib/docker}" 2>/dev/null | tail -n 1)"`,
  `echo "@inspect"`,
  `if [ -n "$ids" ]; then timeout 5 docker inspect $ids 2>/dev/null; else echo '[]'; fi`,
].join('\n');

export function parseDetails(text: string): ServerDetails {
  const psLine = /^@ps (\d+)$/m.exec(text);
  if (!psLine || psLine[1] !== '0') {
    const after = psLine ? text.slice(psLine.index + psLine[0].length).trim() : text.trim();
    return {
      engineOk: false,
      engineError: psLine?.[1] === '124' ? 'the Docker engine did not answer within 5 s' : after || 'docker did not answer',
      diskFreeBytes: null,
      diskTotalBytes: null,
      containers: [],
    };
  }
  const df = /^@df (.*)$/m.exec(text)?.[1].trim().split(/\s+/) ?? [];
  const total = Number(df[1]);
  const free = Number(df[3]);
  const inspectAt = text.indexOf('@inspect\n');
  let raw: unknown[] = [];
  try {
    raw = inspectAt >= 0 ? (JSON.parse(text.slice(inspectAt + '@inspect\n'.length) || '[]') as unknown[]) : [];
  } catch {
    raw = [];
  }
  return {
    engineOk: true,
    engineError: null,
    diskFreeBytes: Number.isFinite(free) && df.length >= 4 ? free : null,
    diskTotalBytes: Number.isFinite(total) && df.length >= 4 ? total : null,
    containers: raw.map(toContainerInfo).filter((c): c is ContainerInfo => c !== null && c.name.startsWith('berth-')),
  };
}

const label = (labels: Record<string, string> | null | undefined, key: string) => labels?.[key] ?? null;
const num = (text: string | null) => (text !== null && /^\d+$/.test(text) ? Number(text) : null);
const dockerTime = (text: unknown) => (typeof text === 'string' && !text.startsWith('0001-') ? text : null);

function toContainerInfo(value: unknown): ContainerInfo | null {
  const c = value as {
    Id?: string;
    Name?: string;
    RestartCount?: number;
    State?: { Status?: string; Running?: boolean; Restarting?: boolean; OOMKilled?: boolean; ExitCode?: number; StartedAt?: string; FinishedAt?: string };
    HostConfig?: { Memory?: number; RestartPolicy?: { Name?: string; MaximumRetryCount?: number } };
    Config?: { Labels?: Record<string, string> | null };
  };
  if (!c || typeof c.Id !== 'string' || typeof c.Name !== 'string') return null;
  const labels = c.Config?.Labels;
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    state: c.State?.Status ?? 'unknown',
    running: c.State?.Running === true,
    restarting: c.State?.Restarting === true,
    oomKilled: c.State?.OOMKilled === true,
    exitCode: typeof c.State?.ExitCode === 'number' ? c.State.ExitCode : null,
    startedAt: dockerTime(c.State?.StartedAt),
    finishedAt: dockerTime(c.State?.FinishedAt),
    restartCount: c.RestartCount ?? 0,
    restartPolicy: c.HostConfig?.RestartPolicy?.Name ?? '',
    maxRetries: c.HostConfig?.RestartPolicy?.MaximumRetryCount ?? 0,
    memoryLimitBytes: c.HostConfig?.Memory ? c.HostConfig.Memory : null,
    model: label(labels, 'berth.model'),
    version: num(label(labels, 'berth.version')),
    replica: num(label(labels, 'berth.replica')),
    port: num(label(labels, 'berth.port')),
  };
}

const HTTP_STATUS = `head -c 12 <&3" 2>/dev/null | cut -d' ' -f2`;
const httpGet = (port: number, path: string) =>
  `timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${path} HTTP/1.0\\r\\nHost: berth\\r\\n\\r\\n' >&3 && ${HTTP_STATUS}`;

/**
 * One round trip, probes in parallel: each running replica's /readyz over the server's loopback (replica ports
 * are not public), the gateway's /_berth/health, and each container's memory use and peak from its cgroup
 * (v1 or v2, cgroupfs or systemd layout).
 */
export function runtimeCommand(containers: ContainerInfo[]): string {
  const lines = [
    `m() { for d in /sys/fs/cgroup/memory/*/$1 /sys/fs/cgroup/memory/*/*/$1 /sys/fs/cgroup/system.slice/docker-$1.scope /sys/fs/cgroup/*/$1 /sys/fs/cgroup/*/*/$1; do ` +
      `if [ -r $d/memory.usage_in_bytes ]; then echo "@mem $1 $(cat $d/memory.usage_in_bytes) $(cat $d/memory.max_usage_in_bytes 2>/dev/null)"; return; fi; ` +
      `if [ -r $d/memory.current ]; then echo "@mem $1 $(cat $d/memory.current) $(cat $d/memory.peak 2>/dev/null)"; return; fi; done; }`,
  ];
  for (const c of containers) {
    if (!c.running || !/^[0-9a-f]{12,64}$/.test(c.id)) continue;
    lines.push(`m ${c.id} &`);
    if (c.name === GATEWAY_CONTAINER) {
      lines.push(`( g=$(${httpGet(c.port ?? DEFAULT_GATEWAY_PORT, '/_berth/health')}); echo "@gateway \${g:-none}" ) &`);
    } else if (c.port !== null) {
      lines.push(`( r=$(${httpGet(c.port, '/readyz')}); echo "@ready ${c.id} \${r:-none}" ) &`);
    }
  }
  lines.push('wait');
  return `bash -c ${shellQuote(lines.join('\n'))}`;
}

export function parseRuntime(text: string, hasGateway: boolean): RuntimeProbe {
  const probe: RuntimeProbe = { ready: new Map(), memory: new Map() };
  if (hasGateway) probe.gateway = null;
  const code = (s: string) => (/^\d{3}$/.test(s) ? Number(s) : null);
  const bytes = (s: string | undefined) => (s && /^\d+$/.test(s) ? Number(s) : null);
  for (const line of text.split('\n')) {
    const [tag, a, b, c] = line.trim().split(' ');
    if (tag === '@ready' && a) probe.ready.set(a, code(b ?? ''));
    else if (tag === '@mem' && a) probe.memory.set(a, [bytes(b), bytes(c)]);
    else if (tag === '@gateway' && hasGateway) probe.gateway = code(a ?? '');
  }
  return probe;
}

/**
 * Docker's container events, one JSON per line, for the die/oom/kill/start/destroy of Berth containers: a crash or
 * an OOM kill between two polls is not missed even when Docker restarts the container at once.
 */
export function eventsCommand(sinceSeconds: number | null): RemoteCommand {
  const filters = ['type=container', ...['die', 'oom', 'kill', 'start', 'destroy'].map((e) => `event=${e}`)].flatMap((f) => ['--filter', f]);
  return docker('events', '--format', '{{json .}}', ...filters, ...(sinceSeconds === null ? [] : ['--since', sinceSeconds.toFixed(3)]));
}

export interface ContainerEvent {
  action: 'die' | 'oom' | 'kill' | 'start' | 'destroy';
  id: string;
  name: string;
  exitCode: number | null;
  /** epoch ms */
  at: number;
  timeNano: number;
}

export function parseEvent(line: string): ContainerEvent | null {
  try {
    const e = JSON.parse(line) as { Action?: string; status?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number; timeNano?: number };
    const action = (e.Action ?? e.status ?? '') as ContainerEvent['action'];
    if (!['die', 'oom', 'kill', 'start', 'destroy'].includes(action)) return null;
    const name = e.Actor?.Attributes?.name ?? '';
    if (!name.startsWith('berth-')) return null;
    const exit = e.Actor?.Attributes?.exitCode;
    const timeNano = e.timeNano ?? (e.time ?? 0) * 1e9;
    return {
      action,
      id: e.id ?? e.Actor?.ID ?? '',
      name,
      exitCode: exit !== undefined && /^-?\d+$/.test(exit) ? Number(exit) : null,
      at: Math.round(timeNano / 1e6),
      timeNano,
    };
  } catch {
    return null;
  }
}
