import { BerthError } from '../../../../shared/errors';
import type { GroupStateService } from '../groups/service';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';
import type { Fanout } from './fanout';
import { freeGpus, gpusHeld } from './gpus';
import type { AuditRecorder } from './orchestrator';
import { removeContainers, startReplicas, waitReady, type Replica } from './replicas';
import { versionIn } from './state-edits';
import type { DeployStore, Placement } from './store';

export interface RecoveryContext {
  reason: 'server-lost' | 'server-returned';
  serverId: number;
  server: string;
}

export interface RecoveryReport {
  /** Replicas started on surviving servers (server-lost) or removed from them (server-returned). */
  changes: Array<{ model: string; version: number; server: string; replicas: string[] }>;
  /** Versions that could not be fully restored, and why (e.g. not enough memory left). */
  shortfalls: string[];
}

/** Leaves this much of a server's memory to the system when placing stand-in replicas. */
const MEMORY_HEADROOM = 0.9;
const READY_TIMEOUT_MS = 90_000;

interface Limits {
  memoryBytes: number;
  nanoCpus: number;
}

/**
 * Keeps a group's replica count when a server is lost: the lost server's replicas are started again on the
 * surviving servers (where memory allows) and routed there; when the server returns and its own replicas are
 * ready again, the stand-ins are unrouted and removed. Both directions go through the same locks and gateway switch.
 */
export function createRecovery(deps: {
  store: DeployStore;
  registry: ServerRegistry;
  connection(serverId: number): Promise<SshConnection>;
  groups: GroupStateService;
  /** How many GPUs a server has (its facts). */
  gpusOf(serverId: number): Promise<number>;
  onAll: Fanout['onAll'];
  serverName: Fanout['serverName'];
  actor(): string;
  audit?: AuditRecorder;
}) {
  const { store, registry, groups } = deps;

  /** Live versions of every model with a placement in the group, with their placements. */
  function liveInGroup(groupId: number) {
    return store
      .models()
      .flatMap((model) => store.versions(model.id).filter((v) => v.state === 'live').map((version) => ({ model, version })))
      .map((entry) => ({ ...entry, placements: store.placements(entry.version.id).filter((p) => p.groupId === groupId) }))
      .filter((entry) => entry.placements.length > 0);
  }

  async function limitsOf(ssh: SshConnection, replica: Replica): Promise<Limits> {
    const out = await ssh.run(`docker inspect --format '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}' ${replica.name}`, { timeoutMs: 10_000 });
    const [memoryBytes, nanoCpus] = out.trim().split(' ').map(Number);
    return { memoryBytes, nanoCpus };
  }

  /** Memory the server can still give to containers, from its total and the limits of what already runs. */
  async function freeMemory(ssh: SshConnection): Promise<number> {
    const out = await ssh.run(
      `echo $(docker info --format '{{.MemTotal}}') $(docker ps -q | xargs -r docker inspect --format '{{.HostConfig.Memory}}' | awk '{s+=$1} END {print s+0}')`,
      { timeoutMs: 15_000 },
    );
    const [total, reserved] = out.trim().split(' ').map(Number);
    return total * MEMORY_HEADROOM - reserved;
  }

  async function serverLost(groupId: number, lost: RecoveryContext): Promise<RecoveryReport> {
    const report: RecoveryReport = { changes: [], shortfalls: [] };
    const survivors = registry.group(groupId).serverIds.filter((id) => id !== lost.serverId);
    for (const { model, version, placements } of liveInGroup(groupId)) {
      const lostPlacement = placements.find((p) => p.serverId === lost.serverId);
      const missing = lostPlacement?.replicas.filter((r) => r.standsInFor === undefined).length ?? 0;
      const alive = placements.filter((p) => survivors.includes(p.serverId));
      if (missing === 0 || alive.length === 0) continue;
      if (alive.some((p) => p.replicas.some((r) => r.standsInFor === lost.serverId))) continue; // already restored

      await groups.withModelLock(registry.group(groupId).name, model.name, `restore replicas lost with ${lost.server}`, async () => {
        const template = alive[0];
        const limits = await limitsOf(await deps.connection(template.serverId), template.replicas[0]);
        // A GPU version's stand-ins get as many GPUs of their own as its replicas have.
        const gpusEach = lostPlacement!.replicas[0]?.gpus?.length ?? 0;
        const plan = await planStandIns(alive, missing, limits.memoryBytes, gpusEach);
        if (plan.placed < missing) {
          report.shortfalls.push(`${model.name} v${version.number}: only ${plan.placed} of ${missing} replicas fit on the remaining servers' memory${gpusEach ? ` and free GPUs (${gpusEach} per replica)` : ''}`);
        }
        const merged = await deps.onAll([...plan.perServer.keys()], async (ssh, serverId) => {
          const placement = alive.find((p) => p.serverId === serverId)!;
          const nextIndex = Math.max(0, ...placement.replicas.map((r) => Number(r.name.split('-r').at(-1)))) + 1;
          const started = await startReplicas(
            ssh,
            {
              model: model.name,
              version: version.number,
              imageRef: version.image_ref,
              operationId: 0,
              memoryMb: Math.max(64, Math.round(limits.memoryBytes / 2 ** 20)),
              cpus: limits.nanoCpus ? limits.nanoCpus / 1e9 : 1,
              ...(gpusEach ? { gpus: plan.perServer.get(serverId)! } : {}),
            },
            plan.perServer.get(serverId)!.length,
            nextIndex,
          );
          await waitReady(ssh, started, { timeoutMs: READY_TIMEOUT_MS });
          const standIns = started.map((r) => ({ ...r, standsInFor: lost.serverId }));
          report.changes.push({ model: model.name, version: version.number, server: deps.serverName(serverId), replicas: standIns.map((r) => r.name) });
          return { ...placement, replicas: [...placement.replicas, ...standIns] } satisfies Placement;
        });
        await commitPlacements(groupId, model.name, version.number, [...merged.values()], `stand-ins for ${lost.server}`);
      });
    }
    await deps.audit?.({ action: 'recover', target: `${registry.group(groupId).name} without ${lost.server}`, result: report.shortfalls.length ? 'failed' : 'ok', detail: { ...report, actor: deps.actor() } });
    return report;
  }

  /**
   * Spreads `missing` replicas over the survivors, fewest-loaded first, within each one's free memory and, for a GPU
   * version, its free GPUs (`gpusEach` per replica, none shared). Per server: the GPUs of each stand-in ([] for none).
   */
  async function planStandIns(alive: Placement[], missing: number, memoryBytes: number, gpusEach: number) {
    const free = new Map<number, number>();
    const freeGpusOn = new Map<number, string[]>();
    const held = gpusEach ? gpusHeld(store, alive.map((p) => p.serverId)) : new Map<number, Map<string, string>>();
    for (const p of alive) {
      free.set(p.serverId, await freeMemory(await deps.connection(p.serverId)).catch(() => 0));
      if (gpusEach) freeGpusOn.set(p.serverId, freeGpus({ total: await deps.gpusOf(p.serverId).catch(() => 0), held: held.get(p.serverId)! }));
    }
    const load = new Map(alive.map((p) => [p.serverId, p.replicas.length]));
    const perServer = new Map<number, string[][]>();
    let placed = 0;
    for (; placed < missing; placed++) {
      const fits = (id: number) => (free.get(id) ?? 0) >= memoryBytes && (freeGpusOn.get(id)?.length ?? 0) >= gpusEach;
      const candidates = alive.map((p) => p.serverId).filter(fits);
      if (candidates.length === 0) break;
      const target = candidates.sort((a, b) => load.get(a)! - load.get(b)!)[0];
      free.set(target, free.get(target)! - memoryBytes);
      load.set(target, load.get(target)! + 1);
      const gpus = freeGpusOn.get(target)?.splice(0, gpusEach) ?? [];
      perServer.set(target, [...(perServer.get(target) ?? []), gpus]);
    }
    return { perServer, placed };
  }

  /** Records the new replica sets in the group state, from which every gateway routes them. */
  async function commitPlacements(groupId: number, model: string, number: number, placements: Placement[], why: string) {
    const uid = (serverId: number) => registry.get(serverId).uid!;
    await groups.change(registry.group(groupId).name, `${model} v${number}: ${why}`, (state) => {
      const version = versionIn(state, model, number);
      for (const p of placements) {
        version.placements[uid(p.serverId)] = p.replicas.map((r) => ({
          name: r.name,
          port: r.port,
          ...(r.standsInFor ? { standsInFor: uid(r.standsInFor) } : {}),
          ...(r.gpus?.length ? { gpus: r.gpus } : {}),
        }));
      }
    });
  }

  async function serverReturned(groupId: number, back: RecoveryContext): Promise<RecoveryReport> {
    const report: RecoveryReport = { changes: [], shortfalls: [] };
    const returned = await deps.connection(back.serverId);
    // Its copy of the state (and so its gateway's table) may be behind: the next revision catches it up.
    await groups.repair(registry.group(groupId).name).catch(() => undefined);
    for (const { model, version, placements } of liveInGroup(groupId)) {
      const own = placements.find((p) => p.serverId === back.serverId);
      const withStandIns = placements.filter((p) => p.replicas.some((r) => r.standsInFor === back.serverId));
      if (!own || withStandIns.length === 0) continue;
      try {
        await waitReady(returned, own.replicas.filter((r) => r.standsInFor === undefined), { timeoutMs: READY_TIMEOUT_MS });
      } catch (err) {
        report.shortfalls.push(`${model.name} v${version.number}: ${back.server}'s replicas are not ready again (${BerthError.from(err).message}); stand-ins kept`);
        continue;
      }
      await groups.withModelLock(registry.group(groupId).name, model.name, `rebalance now that ${back.server} is back`, async () => {
        const trimmed = withStandIns.map((p) => ({ ...p, replicas: p.replicas.filter((r) => r.standsInFor !== back.serverId) }));
        await commitPlacements(groupId, model.name, version.number, trimmed, `${back.server} is back`);
        await deps.onAll(withStandIns.map((p) => p.serverId), async (ssh, serverId) => {
          const removed = withStandIns.find((p) => p.serverId === serverId)!.replicas.filter((r) => r.standsInFor === back.serverId).map((r) => r.name);
          await removeContainers(ssh, removed);
          report.changes.push({ model: model.name, version: version.number, server: deps.serverName(serverId), replicas: removed });
        });
      });
    }
    await deps.audit?.({ action: 'recover', target: `${registry.group(groupId).name}: ${back.server} is back`, result: report.shortfalls.length ? 'failed' : 'ok', detail: { ...report, actor: deps.actor() } });
    return report;
  }

  return {
    restoreGroup: (groupId: number, context: RecoveryContext) =>
      context.reason === 'server-lost' ? serverLost(groupId, context) : serverReturned(groupId, context),
  };
}
