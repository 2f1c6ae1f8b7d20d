/**
 * Which GPUs each replica of a deploy gets, on each server. Docker's `--gpus count=N` always hands out GPUs 0..N-1,
 * so two replicas asking for one GPU each would share GPU 0; Berth therefore names every replica's GPUs itself
 * (`--gpus "device=…"`) and records them in its placement, which is how the next deploy knows which are taken.
 */
import { BerthError } from '../../../../shared/errors';
import type { GpuRequest } from '../../../../shared/deploy';
import type { DeployStore } from './store';

/** One target server as the placement sees it: how many GPUs its facts list and which of them replicas hold. */
export interface GpuServer {
  id: number;
  name: string;
  /** GPUs nvidia-smi lists there (indexes 0..total-1). */
  total: number;
  /** GPU index → the version whose replica holds it (`iris v3`). */
  held: Map<string, string>;
}

/** How many GPUs each replica takes. */
export const gpusPerReplica = (request: GpuRequest): number => (typeof request === 'number' ? request : request.length);

export function describeGpuRequest(request: GpuRequest): string {
  if (typeof request !== 'number') return `GPU${request.length > 1 ? 's' : ''} ${request.join(',')}`;
  return `${request} GPU${request > 1 ? 's' : ''}`;
}

const byIndex = (a: string, b: string) => Number(a) - Number(b);

/** The server's GPUs no replica holds, lowest index first. */
export function freeGpus(server: Pick<GpuServer, 'total' | 'held'>): string[] {
  return Array.from({ length: server.total }, (_, i) => String(i)).filter((gpu) => !server.held.has(gpu));
}

/** The GPUs each of `replicas` replicas gets on one server, or null when they are not all free there. */
export function gpusOnServer(request: GpuRequest, replicas: number, server: Pick<GpuServer, 'total' | 'held'>): string[][] | null {
  const free = freeGpus(server);
  if (typeof request !== 'number') {
    // Named GPUs are the same on every server, so only one replica per server can have them.
    return replicas === 1 && request.every((gpu) => free.includes(gpu)) ? [[...request].sort(byIndex)] : null;
  }
  if (free.length < replicas * request) return null;
  return Array.from({ length: replicas }, (_, i) => free.slice(i * request, (i + 1) * request));
}

/** `tg1 has no GPU`, `tg3 has 1 of 2 GPUs free: 1 (iris v3 holds 0)`. */
function describeServer(server: GpuServer): string {
  if (server.total === 0) return `${server.name} has no GPU`;
  const free = freeGpus(server);
  const holders = new Map<string, string[]>();
  for (const [gpu, holder] of [...server.held].sort(([a], [b]) => byIndex(a, b))) holders.set(holder, [...(holders.get(holder) ?? []), gpu]);
  const held = [...holders].map(([holder, gpus]) => `${holder} holds ${gpus.join(',')}`);
  const which = free.length > 0 && free.length < server.total ? `: ${free.join(',')}` : '';
  return `${server.name} has ${free.length} of ${server.total} GPU${server.total > 1 ? 's' : ''} free${which}${held.length ? ` (${held.join(', ')})` : ''}`;
}

/**
 * Every server of the group runs the deploy's replicas (as without GPUs), so each one must have their GPUs free;
 * otherwise the deploy is refused, naming each server's free GPUs and what to do. Placing fewer replicas than asked
 * would leave the group less redundant than the deploy said, without anyone deciding it.
 */
export function placeGpuReplicas(model: string, group: string, request: GpuRequest, replicas: number, servers: GpuServer[]): Map<number, string[][]> {
  const placed = new Map<number, string[][]>();
  const lacking: GpuServer[] = [];
  for (const server of servers) {
    const gpus = gpusOnServer(request, replicas, server);
    if (gpus) placed.set(server.id, gpus);
    else lacking.push(server);
  }
  if (lacking.length === 0) return placed;
  throw new BerthError('Conflict', `${refusalOf(model, group, request, replicas, servers, lacking)} Nothing was sent or locked.`, {
    servers: servers.map((s) => ({ server: s.name, gpus: s.total, free: freeGpus(s) })),
  });
}

function refusalOf(model: string, group: string, request: GpuRequest, replicas: number, servers: GpuServer[], lacking: GpuServer[]): string {
  const per = gpusPerReplica(request);
  const need =
    typeof request !== 'number'
      ? `each replica needs ${describeGpuRequest(request)} free`
      : replicas === 1
        ? `its replica on each server needs ${describeGpuRequest(request)}`
        : `each of its ${replicas} replicas per server needs ${describeGpuRequest(request)} of its own (${replicas * per} free on each server)`;
  const busy = lacking.filter((s) => s.total > 0).map((s) => s.name);
  const without = lacking.filter((s) => s.total === 0).map((s) => s.name);
  const whatToDo =
    typeof request !== 'number' && replicas > 1
      ? `GPUs named by index go to one replica per server: deploy with 1 replica per server, or ask for a count (gpus = ${per}).`
      : busy.length === 0
        ? `Deploy ${model} to a group whose servers all have GPUs, or without GPUs.`
        : `Free GPUs on ${busy.join(', ')} (stop or retire the versions that hold them) or deploy with fewer replicas per server or fewer GPUs per replica` +
          `${without.length ? `, and deploy to a group without ${without.join(', ')}` : ''}.`;
  return `Group "${group}" cannot run ${model} on GPUs: ${need}, and ${servers.map(describeServer).join(', ')}. ${whatToDo}`;
}

/** GPU index → holder, per server, from the placements this Berth has cached (every group's) of versions that hold containers. */
export function gpusHeld(store: Pick<DeployStore, 'models' | 'versions' | 'placements'>, serverIds: number[]): Map<number, Map<string, string>> {
  const held = new Map<number, Map<string, string>>(serverIds.map((id) => [id, new Map()]));
  for (const model of store.models()) {
    for (const version of store.versions(model.id)) {
      if (version.state !== 'live' && version.state !== 'stopped') continue;
      for (const placement of store.placements(version.id)) {
        for (const replica of placement.replicas) {
          for (const gpu of replica.gpus ?? []) held.get(placement.serverId)?.set(gpu, `${model.name} v${version.number}`);
        }
      }
    }
  }
  return held;
}
