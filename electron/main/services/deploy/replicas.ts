import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../../../shared/errors';
import { shellQuote, type SshConnection } from '../transport/ssh';
import { FIRST_REPLICA_PORT, labels, replicaName } from './naming';
import { remoteGet } from './remote-http';

export interface ReplicaSpec {
  model: string;
  version: number;
  imageRef: string;
  operationId: number;
  memoryMb: number;
  cpus: number;
}

export interface Replica {
  name: string;
  port: number;
  /** Set on a replica started to stand in for a lost server's; removed again when that server returns. */
  standsInFor?: number;
}

/** Ports already claimed by Berth containers on this server (running or not), so a new replica never collides. */
async function usedPorts(ssh: SshConnection): Promise<Set<number>> {
  const out = await ssh.run(`docker ps -a --filter label=${labels.port} --format '{{.Label "${labels.port}"}}'`, { timeoutMs: 15_000 });
  return new Set(out.split('\n').filter(Boolean).map(Number));
}

function runCommand(spec: ReplicaSpec, index: number, port: number): string {
  const name = replicaName(spec.model, spec.version, index);
  const args = [
    'docker run -d',
    `--name ${name}`,
    '--network host',
    // Comes back after a crash and after a server reboot; a crash loop is Docker-throttled and reported by the monitor.
    '--restart unless-stopped',
    `--memory ${spec.memoryMb}m --memory-swap ${spec.memoryMb}m`,
    `--cpus ${spec.cpus}`,
    '--log-driver json-file --log-opt max-size=20m --log-opt max-file=5',
    `--label ${labels.model}=${spec.model}`,
    `--label ${labels.version}=${spec.version}`,
    `--label ${labels.replica}=${index}`,
    `--label ${labels.port}=${port}`,
    `--label ${labels.operation}=${spec.operationId}`,
    `-e PORT=${port} -e BERTH_HOST=127.0.0.1`,
    `-e BERTH_MODEL_NAME=${spec.model} -e BERTH_MODEL_VERSION=${spec.version}`,
    shellQuote(spec.imageRef),
  ];
  return args.join(' ');
}

/**
 * Starts `count` replicas of a version on one server, numbered from `firstIndex`, each on its own free port;
 * removes leftovers of the same name first.
 */
export async function startReplicas(ssh: SshConnection, spec: ReplicaSpec, count: number, firstIndex = 1): Promise<Replica[]> {
  const taken = await usedPorts(ssh);
  const replicas: Replica[] = [];
  let port = FIRST_REPLICA_PORT;
  for (let index = firstIndex; index < firstIndex + count; index++) {
    while (taken.has(port)) port++;
    taken.add(port);
    const name = replicaName(spec.model, spec.version, index);
    await ssh.run(`docker rm -f ${name} >/dev/null 2>&1; ${runCommand(spec, index, port)}`, { timeoutMs: 60_000 });
    replicas.push({ name, port });
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
  const result = await ssh.exec(`docker inspect --format '{{.State.Status}} {{.RestartCount}}' ${replica.name} 2>/dev/null || echo missing 0`, {
    timeoutMs: 10_000,
  });
  const [status, restartText] = result.stdout.toString().trim().split(' ');
  const restarts = Number(restartText);
  if (!restartsAtStart.has(replica.name)) restartsAtStart.set(replica.name, restarts);
  if (status === 'created') return 'starting';
  if (status !== 'running' || restarts > restartsAtStart.get(replica.name)!) return 'dead';
  const readiness = await remoteGet(ssh, replica.port, '/readyz');
  return readiness.status === 200 ? 'ready' : 'starting';
}

async function notReady(ssh: SshConnection, replica: Replica, why: string): Promise<BerthError> {
  const logs = await ssh.exec(`docker logs --tail 40 ${replica.name} 2>&1`, { timeoutMs: 10_000 }).then(
    (r) => r.stdout.toString(),
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
  await ssh.run(`docker rm -f ${names.join(' ')} >/dev/null 2>&1 || true`, { timeoutMs: 60_000 });
}

export async function stopContainers(ssh: SshConnection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await ssh.run(`docker stop -t 10 ${names.join(' ')} >/dev/null`, { timeoutMs: 60_000 });
}

export async function startContainers(ssh: SshConnection, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await ssh.run(`docker start ${names.join(' ')} >/dev/null`, { timeoutMs: 60_000 });
}
