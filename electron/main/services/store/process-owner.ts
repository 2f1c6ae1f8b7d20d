import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * A process as this machine knows it: its pid and when it started. A pid alone is not enough, since the system gives
 * a dead process's pid to a later one; the pair names one process for as long as the machine runs.
 */
export interface ProcessOwner {
  pid: number;
  /** Opaque: compared, never parsed (Linux: boot id and start tick; macOS: `ps` start time). */
  started: string;
}

/** When the process `pid` started, or null when there is none (a zombie counts as none). */
export function processStart(pid: number, platform: NodeJS.Platform = process.platform): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (platform === 'linux') return linuxStart(pid);
  if (platform === 'win32') return windowsStart(pid);
  return psStart(pid);
}

/** /proc/<pid>/stat's 22nd field, the start in clock ticks since boot, with the boot's id (ticks restart at 0). */
function linuxStart(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  return `${bootId()}:${fields[19]}`;
}

let cachedBootId: string | undefined;
function bootId(): string {
  try {
    cachedBootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    cachedBootId = 'boot';
  }
  return cachedBootId;
}

function psStart(pid: number): string | null {
  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** Windows has no start time without a native call: only whether the pid is in use (a reused pid would pass). */
function windowsStart(pid: number): string | null {
  try {
    process.kill(pid, 0);
    return 'running';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : null;
  }
}

let self: ProcessOwner | undefined;
/** This process. */
export function thisProcess(): ProcessOwner {
  self ??= { pid: process.pid, started: processStart(process.pid) ?? `${Date.now()}` };
  return self;
}

/** Whether the process that recorded itself as `owner` still runs (the same pid, started at the same time). */
export function isRunning(owner: ProcessOwner): boolean {
  if (owner.pid === process.pid && owner.started === thisProcess().started) return true;
  return processStart(owner.pid) === owner.started;
}

/** An owner as stored (JSON), or null when there is none or it is not one. */
export function parseOwner(text: string | null | undefined): ProcessOwner | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<ProcessOwner>;
    return typeof value.pid === 'number' && typeof value.started === 'string' ? { pid: value.pid, started: value.started } : null;
  } catch {
    return null;
  }
}
