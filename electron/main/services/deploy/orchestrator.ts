import { BerthError } from '../../../../shared/errors';
import { DeployRequest, type DeployEvent, type DeployPhase, type GpuRequest } from '../../../../shared/deploy';
import { DEFAULT_REQUEST_LOG, type RequestLogBound, type StateReplica } from '../../../../shared/group-state';
import { requireImagePlatform } from '../../../../shared/platform';
import type { GroupStateService } from '../groups/service';
import type { ServerRegistry } from '../servers/registry';
import { isRunning, parseOwner } from '../store/process-owner';
import type { SshConnection } from '../transport/ssh';
import { createFanout } from './fanout';
import { describeGpuRequest, gpusHeld, placeGpuReplicas } from './gpus';
import { createRecovery } from './recovery';
import { removeContainers, startContainers, startReplicas, stopContainers, waitReady, type Replica } from './replicas';
import * as edits from './state-edits';
import type { DeployStore, Placement, VersionRow } from './store';

export type SendResult = { ok: true; bytesSent: number } | { ok: false; error: BerthError };
export type Emit = (event: DeployEvent) => void;

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
  /** What the local image was built for (linux/amd64, linux/arm64). */
  localPlatform(imageRef: string): Promise<string>;
}

/** Runs the gateway on servers (services/gateway). */
export interface GatewayManager {
  /**
   * The gateway (and agent) on every server, keeping as much inference log as the group's bound allows; `group`, when
   * it serves HTTPS, gets its servers' certificates (or renewals) first.
   */
  ensure(serverIds: number[], requestLog: RequestLogBound, options?: { signal?: AbortSignal; log?: (message: string) => void; group?: string }): Promise<void>;
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
  /** A server's platform from its facts (linux/amd64); null when Docker does not say. */
  platformOf(serverId: number): Promise<string | null>;
  /** How many GPUs a server has, from its facts (what nvidia-smi lists; 0 without it). */
  gpusOf(serverId: number): Promise<number>;
  groups: GroupStateService;
  actor(): string;
  audit?: AuditRecorder;
}

/** What a running operation records locally, so `recover()` can undo it after a crash of this Berth. */
export interface Journal {
  phase: DeployPhase;
  group: string;
  model: string;
  version: number | null;
  servers: number[];
  /** Containers started by this operation, per server: removed again on undo. */
  started: Record<number, Replica[]>;
  /** The model lock's token, so recovery releases this lock and no other. */
  lockToken: string;
}

/**
 * Deploys, rollbacks, alias moves, start/stop. Every change to what serves traffic is a revision of the group
 * state (services/groups), made under the model's lock once every replica it routes to is ready; each server's
 * gateway then serves the table derived from it.
 */
export function createOrchestrator(deps: OrchestratorDeps) {
  const { store, registry, groups } = deps;
  const { onAll, serverName } = createFanout(deps);
  const recovery = createRecovery({ ...deps, onAll, serverName });
  const uidOf = (serverId: number) => registry.get(serverId).uid!;

  function groupServers(groupName: string) {
    const group = registry.group(groupName);
    if (group.serverIds.length === 0) throw new BerthError('ValidationError', `Group "${group.name}" has no servers: add servers to it first`);
    return group;
  }

  /** A model name belongs to one group: the one whose state holds it. */
  function groupOfModel(model: string): string {
    const row = store.model(model);
    if (!row.group_name) throw new BerthError('Conflict', `${model} is not in any group's state yet: open Berth with its servers reachable to publish it`);
    return row.group_name;
  }

  function refuseOtherGroup(model: string, group: string) {
    const row = store.findModel(model);
    if (row?.group_name && row.group_name !== group) {
      throw new BerthError('Conflict', `The model name "${model}" belongs to group "${row.group_name}"; deploy it there, or choose another name for this group`);
    }
  }

  function startJournal(kind: 'deploy' | 'rollback' | 'alias' | 'start' | 'stop', j: Journal) {
    const model = store.model(j.model);
    const versionId = j.version === null ? null : store.versionByNumber(model.id, j.version).id;
    const op = store.startOperation({ kind, modelId: model.id, versionId, groupId: registry.group(j.group).id, actor: deps.actor(), journal: j });
    return { id: op.id, value: j, save: () => store.journal(op.id, j) };
  }

  async function deploy(request: DeployRequest, emit: Emit = () => {}, signal?: AbortSignal): Promise<VersionRow> {
    const req = DeployRequest.parse(request);
    const group = groupServers(req.group);
    refuseOtherGroup(req.model, group.name);
    const servers = group.serverIds;
    const replicas = req.replicas ?? group.replicas;
    const started = Date.now();
    const imageId = await deps.images.localId(req.imageRef);
    await refuseForeignPlatform(group.name, req.imageRef, servers);
    const gpus = req.gpus === null ? null : await placeGpus(group.name, req.model, req.gpus, servers, replicas, emit);

    return groups.withModelLock(group.name, req.model, req.message || `deploy ${req.imageRef}`, async (lockToken) => {
      phaseAll(emit, servers, 'lock', 'model lock taken');
      const reserved = await groups.change(group.name, `reserve a version of ${req.model} for ${req.imageRef}`, (state) =>
        edits.reserveVersion(state, req.model, {
          imageRef: req.imageRef,
          imageId,
          notebookHash: req.notebookHash,
          dockerfile: req.dockerfile,
          requirements: req.requirements,
          createdBy: deps.actor(),
          createdAt: new Date().toISOString(),
          ...(req.message ? { message: req.message } : {}),
          resources: { replicas, memoryMb: req.memoryMb, cpus: req.cpus, ...(req.gpus === null ? {} : { gpus: req.gpus }) },
        }),
      );
      const number = reserved.result;
      if (req.projectPath) store.setProjectPath(req.model, req.projectPath);
      const journal = startJournal('deploy', { phase: 'transport', group: group.name, model: req.model, version: number, servers, started: {}, lockToken });
      try {
        phaseAll(emit, servers, 'gateway', 'checking the gateway');
        await deps.gateway.ensure(servers, reserved.file.revision.state.settings.requestLog ?? DEFAULT_REQUEST_LOG, {
          signal,
          log: (message) => emit({ type: 'log', message }),
          group: group.name,
        });
        await sendImage(req.imageRef, servers, emit, signal);
        const placements = await startAndGate(req.model, number, req.imageRef, servers, replicas, { ...req, gpus }, journal, emit, signal);
        journal.value.phase = 'switch';
        journal.save();
        phaseAll(emit, servers, 'switch', `switching latest to v${number}`);
        await groups.change(group.name, `deploy ${req.model} v${number}`, (state) => edits.goLive(state, req.model, number, placements));
        journal.value.phase = 'done';
        journal.save();
        store.finishOperation(journal.id, 'succeeded');
        phaseAll(emit, servers, 'done', `v${number} is live`);
        await retireOldVersions(group.name, req.model, emit);
        await deps.audit?.({ action: 'deploy', target: `${req.model} v${number}`, result: 'ok', detail: { group: group.name, imageRef: req.imageRef, ...(req.message ? { message: req.message } : {}) } });
        emit({ type: 'done', model: req.model, version: number, operationId: journal.id, durationMs: Date.now() - started });
        return store.versionByNumber(store.model(req.model).id, number);
      } catch (err) {
        await undoStarted(journal.value, emit);
        await groups.change(group.name, `deploy ${req.model} v${number} failed`, (state) => edits.markFailed(state, req.model, number)).catch((e) =>
          emit({ type: 'log', message: `Could not mark v${number} failed in the group state: ${BerthError.from(e).message}` }),
        );
        store.finishOperation(journal.id, 'failed', BerthError.from(err).message);
        await deps.audit?.({ action: 'deploy', target: `${req.model} v${number}`, result: 'failed', detail: { error: BerthError.from(err).message } });
        throw err;
      }
    });
  }

  /**
   * Before anything is locked or sent: an image runs only on the platform it was built for, and Docker would load
   * it anyway and fail only when a replica starts ("exec format error"), after the whole transfer.
   */
  async function refuseForeignPlatform(group: string, imageRef: string, servers: number[]): Promise<void> {
    const [image, platforms] = await Promise.all([
      deps.images.localPlatform(imageRef),
      onAll(servers, async (_ssh, id) => deps.platformOf(id)),
    ]);
    requireImagePlatform(imageRef, image, group, [...platforms].map(([id, platform]) => ({ name: serverName(id), platform })));
  }

  /**
   * Before anything is locked or sent: the GPUs each replica gets on each server, from the servers' facts (read at
   * most a minute ago) and the GPUs the group states place replicas on (read again now); refused unless every server
   * has them free.
   */
  async function placeGpus(group: string, model: string, request: GpuRequest, servers: number[], replicas: number, emit: Emit) {
    await groups.refresh(group);
    const totals = await onAll(servers, async (_ssh, id) => deps.gpusOf(id));
    const held = gpusHeld(store, servers);
    const placed = placeGpuReplicas(
      model,
      group,
      request,
      replicas,
      servers.map((id) => ({ id, name: serverName(id), total: totals.get(id) ?? 0, held: held.get(id) ?? new Map() })),
    );
    for (const [id, gpus] of placed) {
      emit({ type: 'log', message: `GPUs on ${serverName(id)} (${describeGpuRequest(request)} per replica): ${gpus.map((g, i) => `replica ${i + 1} → ${g.join(',')}`).join(', ')}` });
    }
    return placed;
  }

  async function sendImage(imageRef: string, servers: number[], emit: Emit, signal?: AbortSignal) {
    phaseAll(emit, servers, 'transport', 'comparing layers');
    const results = await deps.images.send(imageRef, servers, {
      signal,
      onProgress: (id, message, bytesSent, bytesTotal) => emit({ type: 'progress', server: serverName(id), phase: 'transport', message, bytesSent, bytesTotal }),
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
    model: string,
    number: number,
    imageRef: string,
    servers: number[],
    count: number,
    req: { memoryMb: number; cpus: number; readyTimeoutMs: number; gpus: Map<number, string[][]> | null },
    journal: ReturnType<typeof startJournal>,
    emit: Emit,
    signal?: AbortSignal,
  ): Promise<Record<string, StateReplica[]>> {
    journal.value.phase = 'start';
    journal.save();
    const spec = { model, version: number, imageRef, operationId: journal.id, memoryMb: req.memoryMb, cpus: req.cpus };
    const started = await onAll(servers, async (ssh, id) => {
      emit({ type: 'progress', server: serverName(id), phase: 'start', message: `starting ${count} replica(s)` });
      const replicas = await startReplicas(ssh, { ...spec, gpus: req.gpus?.get(id) }, count);
      journal.value.started[id] = replicas;
      journal.save();
      emit({ type: 'progress', server: serverName(id), phase: 'ready', message: 'waiting for /readyz' });
      await waitReady(ssh, replicas, { timeoutMs: req.readyTimeoutMs, signal });
      emit({ type: 'progress', server: serverName(id), phase: 'ready', message: `${count} replica(s) ready` });
      return replicas;
    });
    return Object.fromEntries([...started].map(([id, replicas]) => [uidOf(id), replicas.map((r) => ({ name: r.name, port: r.port, ...(r.gpus ? { gpus: r.gpus } : {}) }))]));
  }

  /** Removes the containers an operation started; nothing it did stays routed, since its revision was never written. */
  async function undoStarted(journal: Journal, emit: Emit): Promise<void> {
    phaseAll(emit, journal.servers, 'undo', 'undoing: nothing stays switched');
    await Promise.allSettled(
      Object.entries(journal.started).map(async ([id, replicas]) => removeContainers(await deps.connection(Number(id)), replicas.map((r) => r.name))),
    );
  }

  function phaseAll(emit: Emit, servers: number[], phase: DeployPhase, message: string) {
    for (const id of servers) emit({ type: 'progress', server: serverName(id), phase, message });
  }

  /** Versions beyond the model's keep count, and not named by an alias, are unrouted, then lose their containers. */
  async function retireOldVersions(group: string, model: string, emit: Emit): Promise<void> {
    const cached = store.placementsOfModel(model);
    const commit = await groups.change(group, `retire old versions of ${model}`, (state) => {
      const numbers = edits.versionsToRetire(edits.modelIn(state, model)).map((v) => v.number);
      edits.retire(state, model, numbers);
      return numbers;
    });
    for (const number of commit.result) {
      await Promise.allSettled((cached.get(number) ?? []).map(async (p) => removeContainers(await deps.connection(p.serverId), p.replicas.map((r) => r.name))));
      emit({ type: 'log', message: `Retired v${number} (keeping the last ${store.model(model).keep_versions} versions)` });
    }
  }

  function keptVersion(model: string, number: number): { version: VersionRow; placements: Placement[] } {
    const version = store.versionByNumber(store.model(model).id, number);
    const placements = store.placements(version.id);
    if (!['live', 'stopped'].includes(version.state) || placements.length === 0) {
      throw new BerthError('Conflict', `v${number} of ${model} is ${version.state}; only kept versions (live or stopped) can serve again`);
    }
    return { version, placements };
  }

  /** Moves an alias (e.g. latest for a rollback) to a version, starting its replicas first if it is stopped. */
  async function moveAlias(kind: 'rollback' | 'alias', model: string, alias: string, number: number, emit: Emit = () => {}, options: { readyTimeoutMs?: number } = {}) {
    const group = groupOfModel(model);
    return groups.withModelLock(group, model, `${kind} ${alias} → v${number}`, async () => {
      await groups.refresh(group);
      const { version, placements } = keptVersion(model, number);
      const servers = placements.map((p) => p.serverId);
      try {
        if (kind === 'rollback') await requireImageEverywhere(version, servers);
        if (version.state === 'stopped') await restartStopped(version, placements, options.readyTimeoutMs ?? 120_000, emit);
        phaseAll(emit, servers, 'switch', `moving ${alias} to v${number}`);
        await groups.change(group, `${kind}: ${model} ${alias} → v${number}`, (state) => edits.pointAlias(state, model, alias, number));
        phaseAll(emit, servers, 'done', `${alias} → v${number}`);
        await deps.audit?.({ action: kind, target: `${model} ${alias} → v${number}`, result: 'ok' });
        return store.version(version.id);
      } catch (err) {
        await deps.audit?.({ action: kind, target: `${model} ${alias} → v${number}`, result: 'failed', detail: { error: BerthError.from(err).message } });
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

  async function stopVersion(model: string, number: number): Promise<VersionRow> {
    const group = groupOfModel(model);
    return groups.withModelLock(group, model, `stop v${number}`, async () => {
      // Unrouted first, then stopped: no request is ever sent to a stopping replica.
      await groups.change(group, `stop ${model} v${number}`, (state) => edits.setServing(state, model, number, false));
      const { version, placements } = keptVersion(model, number);
      await onAll(placements.map((p) => p.serverId), (ssh, id) => stopContainers(ssh, placements.find((p) => p.serverId === id)!.replicas.map((r) => r.name)));
      await deps.audit?.({ action: 'stop', target: `${model} v${number}`, result: 'ok' });
      return store.version(version.id);
    });
  }

  async function startVersion(model: string, number: number, emit: Emit = () => {}): Promise<VersionRow> {
    const group = groupOfModel(model);
    return groups.withModelLock(group, model, `start v${number}`, async () => {
      await groups.refresh(group);
      const { version, placements } = keptVersion(model, number);
      if (version.state !== 'stopped') throw new BerthError('Conflict', `v${number} is ${version.state}, not stopped`);
      await restartStopped(version, placements, 120_000, emit);
      await groups.change(group, `start ${model} v${number}`, (state) => edits.setServing(state, model, number, true));
      await deps.audit?.({ action: 'start', target: `${model} v${number}`, result: 'ok' });
      return store.version(version.id);
    });
  }

  /** Makes a model callable without a key (or private again). */
  async function setPublic(model: string, isPublic: boolean): Promise<boolean> {
    const commit = await groups.change(groupOfModel(model), `${model} ${isPublic ? 'public' : 'private'}`, (state) => {
      const entry = edits.modelIn(state, model);
      const before = entry.public;
      entry.public = isPublic;
      return before;
    });
    return commit.result;
  }

  /**
   * After a crash of this Berth: an operation whose revision reached the servers is finished; any other is undone
   * (its containers removed, a reserved version marked failed). Its model lock is released by token, never a lock
   * another Berth holds now. An operation whose process still runs (another Berth on this data folder, the CLI beside
   * the app; or this very process) is not interrupted: it is left to that process and reported as running.
   */
  async function recover(emit: Emit = () => {}): Promise<{ finished: number[]; undone: number[]; running: { id: number; pid: number }[] }> {
    const finished: number[] = [];
    const undone: number[] = [];
    const running: { id: number; pid: number }[] = [];
    for (const op of store.runningOperations()) {
      const owner = parseOwner(op.owner);
      if (owner && isRunning(owner)) {
        emit({ type: 'log', message: `Operation ${op.id} (${op.kind}) is running in pid ${owner.pid}; it is left to that Berth` });
        running.push({ id: op.id, pid: owner.pid });
        continue;
      }
      const journal = JSON.parse(op.journal) as Partial<Journal>;
      const committed = journal.group && journal.model && journal.version ? await wasCommitted(journal.group, journal.model, journal.version) : false;
      if (committed) {
        // The revision reached a majority; a server whose table was not derived from it yet is caught up now.
        await groups.repair(journal.group!).catch((err) => emit({ type: 'log', message: `Some copies of ${journal.group} are still behind: ${BerthError.from(err).message}` }));
        store.finishOperation(op.id, 'succeeded');
        finished.push(op.id);
      } else {
        if (journal.group && journal.model) await undoInterrupted(journal as Journal, emit);
        store.finishOperation(op.id, 'undone', 'Berth stopped during this operation; it was undone at the next start');
        undone.push(op.id);
      }
      if (journal.lockToken && journal.model) await groups.releaseModelLock(journal.servers ?? [], journal.model, journal.lockToken);
      await deps.audit?.({ action: 'recover', target: `${journal.model ?? 'operation'} operation ${op.id}`, result: 'ok', detail: { outcome: committed ? 'finished' : 'undone' } });
    }
    return { finished, undone, running };
  }

  async function wasCommitted(group: string, model: string, number: number): Promise<boolean> {
    await groups.refresh(group);
    const row = store.findModel(model);
    return row !== null && store.versionByNumber(row.id, number).state !== 'pending' && store.versionByNumber(row.id, number).state !== 'failed';
  }

  async function undoInterrupted(journal: Journal, emit: Emit) {
    await undoStarted({ ...journal, started: journal.started ?? {}, servers: journal.servers ?? [] }, emit);
    if (!journal.version) return;
    await groups
      .change(journal.group, `undo interrupted deploy of ${journal.model} v${journal.version}`, (state) => edits.markFailed(state, journal.model, journal.version!))
      .catch((err) => emit({ type: 'log', message: `v${journal.version} stays pending in the group state: ${BerthError.from(err).message}` }));
  }

  return {
    deploy,
    rollback: (model: string, version: number, emit?: Emit, options?: { readyTimeoutMs?: number }) => moveAlias('rollback', model, 'latest', version, emit, options),
    setAlias: (model: string, alias: string, version: number, emit?: Emit) => moveAlias('alias', model, alias, version, emit),
    stopVersion,
    startVersion,
    setPublic,
    recover,
    /** For the monitor: keep a group's replica count when a server is lost, rebalance when it returns. */
    restoreGroup: recovery.restoreGroup,
  };
}
export type Orchestrator = ReturnType<typeof createOrchestrator>;
