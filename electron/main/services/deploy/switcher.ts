import { BerthError } from '../../../../shared/errors';
import type { DeployEvent, DeployPhase } from '../../../../shared/deploy';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';
import { acquireLock, currentActor, releaseLock } from './lock';
import { GATEWAY_PORT } from './naming';
import type { GatewayManager } from './orchestrator';
import { remoteGet } from './remote-http';
import type { Replica } from './replicas';
import { nextRevision, planRoutes, type RouteKey, type RoutesFile, type RoutesOverlay } from './routes-plan';
import type { DeployStore } from './store';

export type Emit = (event: DeployEvent) => void;

export interface Journal {
  phase: DeployPhase | 'switched';
  servers: number[];
  /** Containers started by this operation, per server: removed again on undo. */
  started: Record<number, Replica[]>;
  /** Servers whose gateway was switched: restored to the database's routes on undo. */
  switched: number[];
}

export interface JournalHandle {
  operationId: number;
  value: Journal;
  save(): void;
}

export interface SwitcherDeps {
  store: DeployStore;
  registry: ServerRegistry;
  connection(serverId: number): Promise<SshConnection>;
  gateway: GatewayManager;
  keys(): RouteKey[];
}

const SWITCH_CONFIRM_MS = 5000;

/** The primitives every traffic change is made of: run on all servers or fail naming each, switch gateways, lock. */
export function createSwitcher(deps: SwitcherDeps) {
  const serverName = (id: number) => deps.registry.get(id).name;

  async function onAll<T>(serverIds: number[], task: (ssh: SshConnection, serverId: number) => Promise<T>): Promise<Map<number, T>> {
    const settled = await Promise.allSettled(serverIds.map(async (id) => [id, await task(await deps.connection(id), id)] as const));
    const failures = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${serverName(serverIds[i])}: ${BerthError.from(s.reason).message}`] : []));
    if (failures.length) {
      const first = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
      const kind = BerthError.from(first.reason).kind;
      throw new BerthError(kind, failures.join('\n'), { servers: failures });
    }
    return new Map(settled.map((s) => (s as PromiseFulfilledResult<readonly [number, T]>).value));
  }

  /** Writes each server's table (database + overlay) and waits until its gateway serves that revision. */
  async function switchRoutes(serverIds: number[], overlay: RoutesOverlay | undefined, journal?: JournalHandle) {
    await onAll(serverIds, async (ssh, serverId) => {
      const routes: RoutesFile = { revision: nextRevision(), ...planRoutes(deps.store, serverId, deps.keys(), overlay) };
      if (journal && !journal.value.switched.includes(serverId)) {
        journal.value.switched.push(serverId);
        journal.save();
      }
      await deps.gateway.writeRoutes(ssh, routes);
      await confirmRevision(ssh, routes.revision);
    });
  }

  async function confirmRevision(ssh: SshConnection, revision: number): Promise<void> {
    const deadline = Date.now() + SWITCH_CONFIRM_MS;
    let seen: unknown = 'no answer';
    while (Date.now() < deadline) {
      const health = await remoteGet(ssh, GATEWAY_PORT, '/_berth/health').catch(() => ({ status: 0, body: '' }));
      if (health.status === 200) {
        try {
          seen = JSON.parse(health.body).revision;
          if (typeof seen === 'number' && seen >= revision) return;
        } catch {
          seen = 'unreadable health answer';
        }
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new BerthError('RemoteCommandFailed', `The gateway on ${ssh.target.host} did not take routes revision ${revision} (it reports ${String(seen)})`);
  }

  /** Restores every given server's gateway to what the database says (the state before the failed operation). */
  async function restoreRoutes(serverIds: number[], emit: Emit): Promise<void> {
    if (serverIds.length === 0) return;
    await switchRoutes(serverIds, undefined).catch((err) =>
      emit({ type: 'log', message: `Could not restore the gateway table everywhere: ${BerthError.from(err).message}` }),
    );
  }

  async function withLocks<T>(model: string, serverIds: number[], message: string, breakLock: boolean, emit: Emit, work: () => Promise<T>): Promise<T> {
    const info = { ...currentActor(), message, since: new Date().toISOString() };
    const locked: number[] = [];
    try {
      await onAll(serverIds, async (ssh, id) => {
        await acquireLock(ssh, model, info, breakLock);
        locked.push(id);
        emit({ type: 'progress', server: serverName(id), phase: 'lock', message: 'deploy lock taken' });
      });
      return await work();
    } finally {
      await Promise.allSettled(locked.map(async (id) => releaseLock(await deps.connection(id), model)));
    }
  }

  return { onAll, switchRoutes, restoreRoutes, withLocks, serverName };
}
