import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../../../shared/errors';
import { command, docker, orElse, tolerant } from '../remote/command';
import { FIRST_REPLICA_PORT, labels, replicaName } from '../remote/layout';
import type { SshConnection } from '../transport/ssh';
import { remoteGet } from './remote-http';

export interface ReplicaSpec {
  model: string;
  version: number;
  imageRef: string;
  operationId: number;
  memoryMb: number;
  cpus: number;
  /** The GPUs (indexes on this server) of each replica started, in order; absent: no GPU (gpus.ts chooses them). */
  gpus?: readonly string[][];
}

export interface Replica {
  name: string;
  port: number;
  /** Set on a replica started to stand in for a lost server's; removed again when that server returns. */
  standsInFor?: number;
  /** Its GPUs on its server; no other replica there has them. */
  gpus?: string[];
}

/**
 * `--gpus` with the replica's own GPUs. Docker reads the value as CSV, so several ids need quotes (`"device=0,1"`);
 * berth-shell's words carry no quotes, and it adds them itself (shell_deploy.go).
 */
function gpuWords(gpus: readonly string[] | undefined): { docker: string[]; verb: string[] } {
  if (!gpus?.length) return { docker: [], verb: [] };
  return { docker: ['--gpus', `"device=${gpus.join(',')}"`], verb: ['--gpus', `device=${gpus.join(',')}`] };
}

/** The Docker commands of replicas, kept apart from the code that runs them; each with its berth-shell verb. */
const replicaCommands = {
  /** The port label of every Berth container, running or not. */
  usedPorts: () => docker('ps', '-a', '--filter', `label=${labels.port}`, '--format', `{{.Label "${labels.port}"}}`).asVerb(['ports']),

  /** A leftover of the same name (an interrupted deploy's); none is fine. */
  removeLeftover: (name: string) => docker('rm', '-f', name).silenced(true).asVerb(['rm', name]),

  run: (spec: ReplicaSpec, index: number, port: number, gpus?: readonly string[]) => {
    const limits = [
      '-d',
      '--name', replicaName(spec.model, spec.version, index),
      '--network', 'host',
      // Comes back after a crash and after a server reboot; a crash loop is Docker-throttled and reported by the monitor.
      '--restart', 'unless-stopped',
      '--memory', `${spec.memoryMb}m`, '--memory-swap', `${spec.memoryMb}m`,
      '--cpus', spec.cpus,
    ];
    const rest = [
      '--log-driver', 'json-file', '--log-opt', 'max-size=20m', '--log-opt', 'max-file=5',
      '--label', `${labels.model}=${spec.model}`,
      '--label', `${labels.version}=${spec.version}`,
      '--label', `${labels.replica}=${index}`,
      '--label', `${labels.port}=${port}`,
      '--label', `${labels.operation}=${spec.operationId}`,
      '-e', `PORT=${port}`, '-e', 'BERTH_HOST=127.0.0.1',
      '-e', `BERTH_MODEL_NAME=${spec.model}`, '-e', `BERTH_MODEL_VERSION=${spec.version}`,
      spec.imageRef,
    ];
    const gpu = gpuWords(gpus);
    return docker('run', ...limits, ...gpu.docker, ...rest).asVerb(['run', ...limits, ...gpu.verb, ...rest]);
  },

  /** "<status> <restart count>", or "missing 0" when there is no such container. */
  state: (name: string) =>
    orElse(docker('inspect', '--format', '{{.State.Status}} {{.RestartCount}}', name).withoutErrorOutput(), command('echo', 'missing', 0)).asVerb(['replica-state', name]),

  /** Through the verb, the log's stderr arrives as stderr: the caller joins both. */
  logTail: (name: string) => docker('logs', '--tail', 40, name).withErrorsInOutput().asVerb(['logs', name, '--tail', 40]),
  remove: (names: string[]) => tolerant(docker('rm', '-f', ...names).silenced(true)).asVerb(['rm', ...names]),
  stop: (names: string[]) => docker('stop', '-t', 10, ...names).silenced().asVerb(['stop', '-t', 10, ...names]),
  start: (names: string[]) => docker('start', ...names).silenced().asVerb(['start', ...names]),
};

/**
 * `count` free ports on this server, lowest first from FIRST_REPLICA_PORT: none claimed by a Berth container
 * (running or not), so a new replica or smoke-test container never collides.
 */
export async function freePorts(ssh: SshConnection, count: number): Promise<number[]> {
  const out = await ssh.run(replicaCommands.usedPorts(), { timeoutMs: 15_000 });
  const taken = new Set(out.split('\n').filter(Boolean).map(Number));
  const ports: number[] = [];
  for (let port = FIRST_REPLICA_PORT; ports.length < count; port++) if (!taken.has(port)) ports.push(port);
  return ports;
}

/**
 * Starts `count` replicas of a version on one server, numbered from `firstIndex`, each on its own free port;
 * removes leftovers of the same name first.
 */
export async function startReplicas(ssh: SshConnection, spec: ReplicaSpec, count: number, firstIndex = 1): Promise<Replica[]> {
  const ports = await freePorts(ssh, count);
  const replicas: Replica[] = [];
  for (let index = firstIndex; index < firstIndex + count; index++) {
    const port = ports[index - firstIndex];
    await ssh.exec(replicaCommands.removeLeftover(replicaName(spec.model, spec.version, index)), { timeoutMs: 60_000 });
    const gpus = spec.gpus?.[index - firstIndex];
    await ssh.run(replicaCommands.run(spec, index, port, gpus), { timeoutMs: 60_000 });
    replicas.push({ name: replicaName(spec.model, spec.version, index), port, ...(gpus?.length ? { gpus: [...gpus] } : {}) });
  }
  return replicas;
}

export interface ReadinessOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Waits until every replica answers 200 on /readyz, asking from inside the server (replica ports are not public).
 * A replica that exits or restarts fails the wait at once, with its log tail.
 */
export async function waitReady(ssh: SshConnection, replicas: Replica[], options: ReadinessOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const pending = new Map(replicas.map((r) => [r.name, r]));
  const restartsAtStart = new Map<string, number>();
  while (pending.size > 0) {
    if (options.signal?.aborted) throw new BerthError('Cancelled', 'Deploy cancelled while waiting for readiness');
    for (const replica of [...pending.values()]) {
      const state = await replicaState(ssh, replica, restartsAtStart);
      if (state === 'ready') pending.delete(replica.name);
      else if (state === 'dead') throw await notReady(ssh, replica, 'stopped or restarted before it became ready');
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      throw await notReady(ssh, [...pending.values()][0], `was not ready after ${Math.round(options.timeoutMs / 1000)} s`);
    }
    await sleep(options.intervalMs ?? 500);
  }
}

/** Container state and restart count, then (if running) a readiness probe over the server's loopback. */
async function replicaState(
  ssh: SshConnection,
  replica: Replica,
  restartsAtStart: Map<string, number>,
): Promise<'ready' | 'starting' | 'dead'> {
  const result = await ssh.exec(replicaCommands.state(replica.name), { timeoutMs: 10_000 });
  const [status, restartText] = result.stdout.toString().trim().split(' ');
  const restarts = Number(restartText);
  if (!restartsAtStart.has(replica.name)) restartsAtStart.set(replica.name, restarts);
  if (status === 'created') return 'starting';
  if (status !== 'running' || restarts > restartsAtStart.get(replica.name)!) return 'dead';
  const readiness = await remoteGet(ssh, replica.port, '/readyz');
  return readiness.status === 200 ? 'ready' : 'starting';
}

async function notReady(ssh: SshConnection, replica: Replica, why: string): Promise<BerthError> {
  const logs = await ssh.exec(replicaCommands.logTail(replica.name), { timeoutMs: 10_000 }).then(
    (r) => r.stdout.toString() + r.stderr,
    () => '(logs unavailable)',
  );
  return new BerthError('SmokeTestFailed', `Replica ${replica.name} on ${ssh.target.host} ${why}. Last log lines:\n${logs}`, {
    server: ssh.target.host,
    replica: replica.name,
    logs,
  });
}

/** Removes containers by name; missing ones are fine (idempotent undo). */
export async function removeContainers(ssh: SshConnection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await ssh.run(replicaCommands.remove(names), { timeoutMs: 60_000 });
}

export async function stopContainers(ssh: SshConnection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await ssh.run(replicaCommands.stop(names), { timeoutMs: 60_000 });
}

export async function startContainers(ssh: SshConnection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await ssh.run(replicaCommands.start(names), { timeoutMs: 60_000 });
}
