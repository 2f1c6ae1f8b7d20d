import { BerthError } from '../../../../shared/errors';
import { DeployRequest, type DeployPhase } from '../../../../shared/deploy';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';
import { currentActor, releaseLock } from './lock';
import { removeContainers, startContainers, startReplicas, stopContainers, waitReady } from './replicas';
import type { RouteKey, RoutesFile } from './routes-plan';
import type { DeployStore, ModelRow, Placement, VersionRow } from './store';
import { createRecovery } from './recovery';
import { createSwitcher, type Emit, type Journal, type JournalHandle } from './switcher';

export type SendResult = { ok: true; bytesSent: number } | { ok: false; error: BerthError };

/** Moves an image to servers (services/transport). */
export interface ImageSender {
  send(
    imageRef: string,
    serverIds: number[],
    options: { signal?: AbortSignal; onProgress?: (serverId: number, message: string, bytesSent?: number, bytesTotal?: number) => void },
  ): Promise<Map<number, SendResult>>;
  /** Whether the image is present on the server (for rollback eligibility). */
  present(serverId: number, imageRef: string): Promise<boolean>;
  /** The local image's id, recorded with the version. */
  localId(imageRef: string): Promise<string>;
}

/** Runs the gateway on servers (services/gateway). */
export interface GatewayManager {
  ensure(serverIds: number[], signal?: AbortSignal): Promise<void>;
  writeRoutes(ssh: SshConnection, routes: RoutesFile): Promise<void>;
}

export interface AuditRecorder {
  (entry: { action: string; target: string; result: 'ok' | 'failed'; detail?: unknown }): void | Promise<void>;
}

export interface OrchestratorDeps {
  store: DeployStore;
  registry: ServerRegistry;
  connection(serverId: number): Promise<SshConnection>;
  images: ImageSender;
  gateway: GatewayManager;
  keys(): RouteKey[];
  audit?: AuditRecorder;
}



/**
 * Deploys, rollbacks, alias moves, start/stop: every change to what serves traffic goes through one health gate and
 * is all-or-nothing across the group. The database is committed only after every server switched; an interrupted
 * operation is journaled so `recover()` can finish or undo it.
 */
export function createOrchestrator(deps: OrchestratorDeps) {
  const { store, registry } = deps;
  const serverName = (id: number) => registry.get(id).name;

  const switcher = createSwitcher(deps);
  const { onAll, switchRoutes, restoreRoutes, withLocks } = switcher;
  const recovery = createRecovery({ ...deps, switcher });

  function groupServers(groupName: string) {
    const group = registry.group(groupName);
    if (group.serverIds.length === 0) throw new BerthError('ValidationError', `Group "${group.name}" has no servers: add servers to it first`);
    return group;
  }

  async function deploy(request: DeployRequest, emit: Emit = () => {}, signal?: AbortSignal): Promise<VersionRow> {
    const req = DeployRequest.parse(request);
    const group = groupServers(req.group);
    const servers = group.serverIds;
    const replicasPerServer = req.replicas ?? group.replicas;
    const started = Date.now();
    const imageId = await deps.images.localId(req.imageRef);

    return withLocks(req.model, servers, req.message || `deploy ${req.imageRef}`, req.breakLock, emit, async () => {
      const model = store.ensureModel(req.model, req.projectPath);
      const version = store.insertVersion({
        modelId: model.id,
        number: store.nextVersionNumber(model.id),
        imageRef: req.imageRef,
        imageId,
        notebookHash: req.notebookHash,
        dockerfile: req.dockerfile,
        requirements: req.requirements,
        createdBy: currentActor().holder,
        state: 'pending',
      });
      const op = store.startOperation({ kind: 'deploy', modelId: model.id, versionId: version.id, groupId: group.id, actor: currentActor().holder });
      const journal = journalOf(op.id, servers);
      try {
        phaseAll(emit, servers, 'gateway', 'checking the gateway');
        await deps.gateway.ensure(servers, signal);
        await sendImage(req.imageRef, servers, emit, signal);
        const placements = await startAndGate(model, version, group.id, servers, replicasPerServer, req, journal, emit, signal);
        journal.value.phase = 'switch';
        journal.save();
        phaseAll(emit, servers, 'switch', `switching latest to v${version.number}`);
        await switchRoutes(servers, { modelId: model.id, addPlacements: placements, aliases: { latest: version.id } }, journal);
        journal.value.phase = 'switched';
        journal.save();
        commitDeploy(model, version, placements, op.id);
        phaseAll(emit, servers, 'done', `v${version.number} is live`);
        await retireOldVersions(model, emit);
        await deps.audit?.({ action: 'deploy', target: `${model.name} v${version.number}`, result: 'ok', detail: { group: group.name, imageRef: req.imageRef } });
        emit({ type: 'done', model: model.name, version: version.number, operationId: op.id, durationMs: Date.now() - started });
        return store.version(version.id);
      } catch (err) {
        await undo(op.id, journal.value, emit);
        store.setVersionState(version.id, 'failed');
        store.finishOperation(op.id, 'failed', BerthError.from(err).message);
        await deps.audit?.({ action: 'deploy', target: `${model.name} v${version.number}`, result: 'failed', detail: { error: BerthError.from(err).message } });
        throw err;
      }
    });
  }

  function journalOf(operationId: number, servers: number[]): JournalHandle {
    const value: Journal = { phase: 'transport', servers, started: {}, switched: [] };
    store.journal(operationId, value); // at once: recover() needs the servers to release their locks if Berth dies before the next phase
    return { operationId, value, save: () => store.journal(operationId, value) };
  }

  function commitDeploy(model: ModelRow, version: VersionRow, placements: Placement[], operationId: number) {
    store.transaction(() => {
      for (const p of placements) store.setPlacement(p);
      store.setVersionState(version.id, 'live');
      store.setAlias(model.id, 'latest', version.id);
      store.finishOperation(operationId, 'succeeded');
    });
  }

  async function sendImage(imageRef: string, servers: number[], emit: Emit, signal?: AbortSignal) {
    phaseAll(emit, servers, 'transport', 'comparing layers');
    const results = await deps.images.send(imageRef, servers, {
      signal,
      onProgress: (id, message, bytesSent, bytesTotal) =>
        emit({ type: 'progress', server: serverName(id), phase: 'transport', message, bytesSent, bytesTotal }),
    });
    const failed = [...results].filter(([, r]) => !r.ok) as [number, { ok: false; error: BerthError }][];
    for (const [id, r] of failed) emit({ type: 'progress', server: serverName(id), phase: 'failed', message: r.error.message });
    if (failed.length) {
      throw new BerthError(
        failed[0][1].error.kind,
        `The image could not be sent to ${failed.map(([id]) => serverName(id)).join(', ')}; nothing was switched anywhere.\n` +
          failed.map(([id, r]) => `${serverName(id)}: ${r.error.message}`).join('\n'),
      );
    }
  }

  /** Starts replicas on every server and waits until all are ready; records them in the journal as they start. */
  async function startAndGate(
    model: ModelRow,
    version: VersionRow,
    groupId: number,
    servers: number[],
    count: number,
    req: { memoryMb: number; cpus: number; readyTimeoutMs: number },
    journal: JournalHandle,
    emit: Emit,
    signal?: AbortSignal,
  ): Promise<Placement[]> {
    journal.value.phase = 'start';
    journal.save();
    const spec = { model: model.name, version: version.number, imageRef: version.image_ref, operationId: journal.operationId, memoryMb: req.memoryMb, cpus: req.cpus };
    const placements = await onAll(servers, async (ssh, id) => {
      emit({ type: 'progress', server: serverName(id), phase: 'start', message: `starting ${count} replica(s)` });
      const replicas = await startReplicas(ssh, spec, count);
      journal.value.started[id] = replicas;
      journal.save();
      emit({ type: 'progress', server: serverName(id), phase: 'ready', message: 'waiting for /readyz' });
      await waitReady(ssh, replicas, { timeoutMs: req.readyTimeoutMs, signal });
      emit({ type: 'progress', server: serverName(id), phase: 'ready', message: `${count} replica(s) ready` });
      return { versionId: version.id, serverId: id, groupId, replicas } satisfies Placement;
    });
    return [...placements.values()];
  }

  /** Undo what an operation did on servers: gateway tables back to the database's, its new containers removed. */
  async function undo(operationId: number, journal: Journal, emit: Emit): Promise<void> {
    phaseAll(emit, journal.servers, 'undo', 'undoing: nothing stays switched');
    await restoreRoutes(journal.switched, emit);
    await Promise.allSettled(
      Object.entries(journal.started).map(async ([id, replicas]) => {
        const ssh = await deps.connection(Number(id));
        await removeContainers(ssh, replicas.map((r) => r.name));
      }),
    );
    store.journal(operationId, { ...journal, phase: 'undo' });
  }

  function phaseAll(emit: Emit, servers: number[], phase: DeployPhase, message: string) {
    for (const id of servers) emit({ type: 'progress', server: serverName(id), phase, message });
  }

  /** Versions beyond the model's keep count, and not named by an alias, lose their containers. Images stay for kept versions. */
  async function retireOldVersions(model: ModelRow, emit: Emit): Promise<void> {
    const aliased = new Set(store.aliases(model.id).map((a) => a.version_id));
    const kept = store.versions(model.id).filter((v) => v.state === 'live' || v.state === 'stopped');
    for (const version of kept.slice(model.keep_versions)) {
      if (aliased.has(version.id)) continue;
      const placements = store.placements(version.id);
      await switchRoutes(placements.map((p) => p.serverId), { modelId: model.id, removeVersions: [version.id] }).catch(() => undefined);
      await Promise.allSettled(placements.map(async (p) => removeContainers(await deps.connection(p.serverId), p.replicas.map((r) => r.name))));
      store.transaction(() => {
        for (const p of placements) store.deletePlacement(version.id, p.serverId);
        store.setVersionState(version.id, 'retired');
      });
      emit({ type: 'log', message: `Retired v${version.number} (keeping the last ${model.keep_versions} versions)` });
    }
  }

  /** Moves an alias (e.g. latest for a rollback) to a version, starting its replicas first if it is stopped. */
  async function pointAlias(
    kind: 'rollback' | 'alias',
    modelName: string,
    alias: string,
    versionNumber: number,
    emit: Emit = () => {},
    options: { readyTimeoutMs?: number } = {},
  ): Promise<VersionRow> {
    const model = store.model(modelName);
    const version = store.versionByNumber(model.id, versionNumber);
    const placements = store.placements(version.id);
    if (version.state === 'retired' || version.state === 'failed' || version.state === 'pending' || placements.length === 0) {
      throw new BerthError('Conflict', `v${versionNumber} of ${modelName} is ${version.state}; only kept versions (live or stopped) can serve again`);
    }
    const servers = placements.map((p) => p.serverId);
    return withLocks(model.name, servers, `${kind} ${alias} → v${versionNumber}`, false, emit, async () => {
      const op = store.startOperation({ kind, modelId: model.id, versionId: version.id, groupId: placements[0].groupId, actor: currentActor().holder });
      const journal = journalOf(op.id, servers);
      try {
        if (kind === 'rollback') await requireImageEverywhere(version, servers);
        if (version.state === 'stopped') await restartStopped(version, placements, options.readyTimeoutMs ?? 120_000, emit);
        phaseAll(emit, servers, 'switch', `moving ${alias} to v${versionNumber}`);
        await switchRoutes(servers, { modelId: model.id, aliases: { [alias]: version.id } }, journal);
        store.transaction(() => {
          store.setVersionState(version.id, 'live');
          store.setAlias(model.id, alias, version.id);
          store.finishOperation(op.id, 'succeeded');
        });
        phaseAll(emit, servers, 'done', `${alias} → v${versionNumber}`);
        await deps.audit?.({ action: kind, target: `${model.name} ${alias} → v${versionNumber}`, result: 'ok' });
        return store.version(version.id);
      } catch (err) {
        await restoreRoutes(journal.value.switched, emit);
        store.finishOperation(op.id, 'failed', BerthError.from(err).message);
        await deps.audit?.({ action: kind, target: `${model.name} ${alias} → v${versionNumber}`, result: 'failed', detail: { error: BerthError.from(err).message } });
        throw err;
      }
    });
  }

  async function requireImageEverywhere(version: VersionRow, servers: number[]) {
    const missing: string[] = [];
    for (const id of servers) if (!(await deps.images.present(id, version.image_ref))) missing.push(serverName(id));
    if (missing.length) {
      throw new BerthError('Conflict', `v${version.number}'s image ${version.image_ref} is no longer on ${missing.join(', ')}: redeploy it instead of rolling back`);
    }
  }

  async function restartStopped(version: VersionRow, placements: Placement[], readyTimeoutMs: number, emit: Emit) {
    await onAll(placements.map((p) => p.serverId), async (ssh, id) => {
      const replicas = placements.find((p) => p.serverId === id)!.replicas;
      emit({ type: 'progress', server: serverName(id), phase: 'start', message: `starting stopped v${version.number}` });
      await startContainers(ssh, replicas.map((r) => r.name));
      await waitReady(ssh, replicas, { timeoutMs: readyTimeoutMs });
    });
  }

  async function stopVersion(modelName: string, versionNumber: number, emit: Emit = () => {}): Promise<VersionRow> {
    const model = store.model(modelName);
    const version = store.versionByNumber(model.id, versionNumber);
    const aliases = store.aliases(model.id).filter((a) => a.version_id === version.id).map((a) => a.alias);
    if (aliases.length) throw new BerthError('Conflict', `v${versionNumber} is still ${aliases.join(', ')}: move ${aliases.length > 1 ? 'those aliases' : 'that alias'} first`);
    if (version.state !== 'live') throw new BerthError('Conflict', `v${versionNumber} is ${version.state}, not live`);
    const placements = store.placements(version.id);
    const servers = placements.map((p) => p.serverId);
    return withLocks(model.name, servers, `stop v${versionNumber}`, false, emit, async () => {
      const op = store.startOperation({ kind: 'stop', modelId: model.id, versionId: version.id, groupId: placements[0]?.groupId ?? null, actor: currentActor().holder });
      try {
        // Unroute first, then stop: no request is ever sent to a stopping replica.
        await switchRoutes(servers, { modelId: model.id, removeVersions: [version.id] });
        await onAll(servers, (ssh, id) => stopContainers(ssh, placements.find((p) => p.serverId === id)!.replicas.map((r) => r.name)));
        store.transaction(() => {
          store.setVersionState(version.id, 'stopped');
          store.finishOperation(op.id, 'succeeded');
        });
        await deps.audit?.({ action: 'stop', target: `${model.name} v${versionNumber}`, result: 'ok' });
        return store.version(version.id);
      } catch (err) {
        await restoreRoutes(servers, emit);
        store.finishOperation(op.id, 'failed', BerthError.from(err).message);
        throw err;
      }
    });
  }

  async function startVersion(modelName: string, versionNumber: number, emit: Emit = () => {}): Promise<VersionRow> {
    const model = store.model(modelName);
    const version = store.versionByNumber(model.id, versionNumber);
    if (version.state !== 'stopped') throw new BerthError('Conflict', `v${versionNumber} is ${version.state}, not stopped`);
    const placements = store.placements(version.id);
    const servers = placements.map((p) => p.serverId);
    return withLocks(model.name, servers, `start v${versionNumber}`, false, emit, async () => {
      const op = store.startOperation({ kind: 'start', modelId: model.id, versionId: version.id, groupId: placements[0]?.groupId ?? null, actor: currentActor().holder });
      try {
        await restartStopped(version, placements, 120_000, emit);
        await switchRoutes(servers, { modelId: model.id, addPlacements: placements });
        store.transaction(() => {
          store.setVersionState(version.id, 'live');
          store.finishOperation(op.id, 'succeeded');
        });
        await deps.audit?.({ action: 'start', target: `${model.name} v${versionNumber}`, result: 'ok' });
        return store.version(version.id);
      } catch (err) {
        await restoreRoutes(servers, emit);
        await onAll(servers, (ssh, id) => stopContainers(ssh, placements.find((p) => p.serverId === id)!.replicas.map((r) => r.name))).catch(() => undefined);
        store.finishOperation(op.id, 'failed', BerthError.from(err).message);
        throw err;
      }
    });
  }

  /**
   * After a crash of Berth itself: an operation whose every server was switched is finished (committed);
   * any other is undone (gateway tables back to the database's, its containers removed). Locks it held are released.
   */
  async function recover(emit: Emit = () => {}): Promise<{ finished: number[]; undone: number[] }> {
    const finished: number[] = [];
    const undone: number[] = [];
    for (const op of store.runningOperations()) {
      const journal = JSON.parse(op.journal) as Partial<Journal>;
      const model = store.models().find((m) => m.id === op.model_id)!;
      const servers = journal.servers ?? [];
      const version = op.version_id === null ? null : store.version(op.version_id);
      if (op.kind === 'deploy' && journal.phase === 'switched' && version) {
        const placements = Object.entries(journal.started ?? {}).map(([id, replicas]) => ({
          versionId: version.id,
          serverId: Number(id),
          groupId: op.group_id!,
          replicas,
        }));
        commitDeploy(model, version, placements, op.id);
        finished.push(op.id);
      } else {
        await undo(op.id, { phase: 'undo', servers, started: journal.started ?? {}, switched: journal.switched ?? servers }, emit);
        if (version?.state === 'pending') store.setVersionState(version.id, 'failed');
        store.finishOperation(op.id, 'undone', 'Berth stopped during this operation; it was undone at the next start');
        undone.push(op.id);
      }
      await Promise.allSettled(servers.map(async (id) => releaseLock(await deps.connection(id), model.name)));
      await deps.audit?.({ action: 'recover', target: `${model.name} operation ${op.id}`, result: 'ok', detail: { outcome: finished.includes(op.id) ? 'finished' : 'undone' } });
    }
    return { finished, undone };
  }

  /** Rewrites every server's gateway table from the database (after a key change, a public flag change, ...). */
  async function syncRoutes(serverIds = registry.list().map((s) => s.id)): Promise<Map<number, string | null>> {
    const report = new Map<number, string | null>();
    await Promise.all(
      serverIds.map(async (id) => {
        try {
          await switchRoutes([id], undefined);
          report.set(id, null);
        } catch (err) {
          report.set(id, BerthError.from(err).message);
        }
      }),
    );
    return report;
  }

  return {
    deploy,
    rollback: (model: string, version: number, emit?: Emit, options?: { readyTimeoutMs?: number }) => pointAlias('rollback', model, 'latest', version, emit, options),
    setAlias: (model: string, alias: string, version: number, emit?: Emit) => pointAlias('alias', model, alias, version, emit),
    stopVersion,
    startVersion,
    recover,
    syncRoutes,
    /** For the monitor: keep a group's replica count when a server is lost, rebalance when it returns. */
    restoreGroup: recovery.restoreGroup,
  };
}
export type Orchestrator = ReturnType<typeof createOrchestrator>;
