import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../shared/errors';
import type { AppInfo } from '../../shared/types';
import { accessCalls, createAccessModule, teamInstaller } from './services/access';
import { createFileKeyCipher, createSecretStore, type SecretCipher } from './services/access/secrets';
import { inspectBaseImage } from './services/build/base-image';
import { baseImageFor } from './services/build/dockerfile';
import { createEngineService } from './services/build/engine';
import { createBuildService } from './services/build/service';
import { createDeployService } from './services/deploy/service';
import { createGatewayImageSource } from './services/gateway/local';
import { currentActor } from './services/groups/actor';
import { createGroupStateService } from './services/groups/service';
import { createServerForgetting } from './services/groups/forget';
import { addThisComputer } from './services/groups/this-computer';
import { createCertificateRenewal } from './services/tls/renewal';
import { createTlsService } from './services/tls/service';
import { GATEWAY_PORT, agentLayoutFromEnv, layoutFromEnv } from './services/remote/layout';
import { createProjectService } from './services/project';
import { createStatusService } from './services/monitor/status';
import { createObservability } from './services/monitor/observability';
import { createServerRegistry } from './services/servers/registry';
import { createServersService, LOCAL_SERVER_NAME } from './services/servers/service';
import { importSshConfig } from './services/servers/ssh-config';
import { createRecentProjects } from './services/project/recent';
import { createExampleProjects } from './services/project/example';
import { createDeploymentFiles } from './services/project/deployment-file';
import { openDatabase } from './services/store/database';
import { claimDataFolder, sharedFolderNote } from './services/store/folder-owner';
import { createProjectsRepo } from './services/store/projects';
import { createSettingsRepo } from './services/store/settings';
import { createDispatcher, type CallHandlers, type StreamHandlers } from './rpc/dispatcher';

export interface BerthOptions {
  home: string;
  /**
   * Ciphers that wrote secrets of older Berth versions (Electron passes its safeStorage one): they are read with it
   * once and moved to the data folder's key file, the one cipher the app, web mode and the CLI share.
   */
  legacyCiphers?: SecretCipher[];
  mode: AppInfo['mode'];
  version: string;
  /** Server monitoring and inference pulls in the background; default: on in Electron and web mode, off in the CLI. */
  background?: boolean;
}

/**
 * Where Berth keeps its data: BERTH_HOME wins, else one folder per user that the app, web mode and the CLI share
 * (the platform's config folder, as Electron's userData for "Berth" would be).
 */
export function resolveHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.BERTH_HOME) return env.BERTH_HOME;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Berth');
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Berth');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'Berth');
}

/** Group-state changes try each server once, briefly: a dead one must not stall a change the others can make. */
const FAST_CONNECT = { attempts: 1, readyTimeoutMs: 6000 };

/** Composes every service for one data folder; the same composition serves Electron IPC, the web transport and the CLI. */
export function createBerth(options: BerthOptions) {
  const releaseFolder = openDataFolder(options);
  const db = openDatabase(join(options.home, 'berth.db'));
  const settings = createSettingsRepo(db);
  const engine = createEngineService(() => settings.get().dockerSocket);
  const projects = createRecentProjects(createProjectsRepo(db));
  const examples = createExampleProjects({ folder: join(options.home, 'examples'), open: (path) => projects.open(path) });
  const secrets = createSecretStore(db, createFileKeyCipher(join(options.home, 'secret.key')), undefined, options.legacyCiphers);
  const registry = createServerRegistry(db);
  const servers = createServersService({ registry, secrets, agentSocket: process.env.SSH_AUTH_SOCK });
  const status = createStatusService(engine, () => servers.ping());
  const layout = layoutFromEnv();
  // Built locally once: the servers' gateway and agent, and berth-shell, the program every member key runs.
  const gatewayImage = createGatewayImageSource({ docker: engine.client(), builderImage: () => settings.get().gatewayBuilderImage, version: options.version });
  // The servers hold each group's state; this data folder caches it (services/groups).
  const groups = createGroupStateService({ db, registry, connection: (id) => servers.connection(id, FAST_CONNECT), layout, actor: currentActor, folder: options.home, applyTeam: teamInstaller(layout, gatewayImage.shellBinary) });
  const forgetting = createServerForgetting({ db, registry, groups, reachable: async (id) => (await servers.test(id)).state === 'up' });
  // Keys, team roles enforced on the servers, and the audit log, all changed through the group state.
  const { access, audit } = createAccessModule({ db, servers, layout, groups });
  // HTTPS at the gateways: each group's CA key stays in this folder's secret store; servers get only their certificates.
  const tls = createTlsService({ registry, groups, secrets, connection: (id) => servers.connection(id), layout, actor: currentActor });
  const analysis = createProjectService();
  const builds = createBuildService({
    db,
    analyze: (target, options) => analysis.analyze(target, options),
    settings: () => settings.get(),
    engineCheck: () => engine.info(),
    connection: (id) => servers.connection(id),
  });
  // The projects' berth.toml, as the deploy panel previews and writes it.
  const deploymentFiles = createDeploymentFiles({ groups: () => registry.groups(), servers: () => servers.list(), settings: () => settings.get(), prepare: (path) => builds.prepare(path) });

  const deploy = createDeployService({
    db,
    engine,
    servers,
    registry,
    builds,
    gatewayImage,
    groups,
    agentLayout: agentLayoutFromEnv(layout),
    certificates: (group, serverIds) => tls.requireCertificates(group, serverIds),
    actor: () => currentActor().holder,
    audit: ({ action, target, result, detail }) => void audit.record({ action, target, result, details: detail ? { detail } : {} }).catch(() => {}),
  });
  // Live logs, inference records, monitoring and alerts; a lost (or returned) server triggers the orchestrator's recovery.
  const observability = createObservability({
    db,
    servers,
    registry,
    layout,
    gatewayLogDir: process.env.BERTH_GATEWAY_LOG_DIR ? (s) => process.env.BERTH_GATEWAY_LOG_DIR!.replace('{server}', s.name) : undefined,
    monitorIntervalMs: process.env.BERTH_MONITOR_INTERVAL_MS ? Number(process.env.BERTH_MONITOR_INTERVAL_MS) : undefined,
    retention: () => ({ days: settings.get().inferenceRetentionDays, maxRows: settings.get().inferenceMaxRows }),
  });
  observability.monitor.setRecovery({ restoreGroup: (groupId, context) => deploy.orchestrator.restoreGroup(groupId, context) });
  const renewal = createCertificateRenewal({ tls, registry, alerts: observability.alerts, port: GATEWAY_PORT });
  // Opening Berth attaches to every group its servers hold; the CLI awaits `ready` before each command. In the
  // app, an operation of this folder interrupted by a crash is then finished or undone before anything else
  // changes traffic; one whose process still runs (a CLI deploy beside the app) is left to it. The CLI never recovers.
  const background = options.background ?? options.mode !== 'cli';
  const ready = groups
    .attach()
    .then((report) => report.problems.forEach((p) => console.error(`Group state: ${p}`)))
    .then(() => (background ? deploy.orchestrator.recover((event) => event.type === 'log' && console.error(`Recovery: ${event.message}`)) : undefined))
    .then(() => undefined)
    .catch((err) => console.error(`Attaching to the servers' groups failed: ${err instanceof Error ? err.message : err}`));
  if (background) {
    observability.start();
    // After the attach, so the pass sees every HTTPS group the servers hold.
    void ready.then(() => renewal.start());
  }

  const calls: CallHandlers = {
    'app.info': () => ({ version: options.version, mode: options.mode, dataDir: options.home, platform: process.platform }),
    'engine.info': () => engine.info(),
    'engine.baseImage': async () => {
      await engine.info(); // an unreachable engine is reported as engine.info reports it
      return inspectBaseImage(engine.client(), baseImageFor(settings.get().baseImage, await examples.pythonVersion()));
    },
    'settings.get': () => settings.get(),
    'settings.update': ({ theme, checklistDismissed, ...changed }) => {
      // The images every build and gateway start from are audited; the theme and the checklist are only this window's.
      const view = { theme, checklistDismissed };
      if (Object.keys(changed).length === 0) return settings.update(view);
      return audit.around({ action: 'settings.update', target: Object.keys(changed).join(', '), details: changed }, async () => settings.update({ ...view, ...changed }));
    },
    'projects.recent': () => projects.recent(),
    'projects.open': ({ path }) => projects.open(path),
    'projects.openExample': () => examples.openExample(),
    'projects.forget': ({ id }) => projects.forget(id),
    'projects.deployment': ({ path }) => deploymentFiles.read(path),
    'projects.saveDeployment': (input) =>
      input.write
        ? audit.around({ action: 'project.deployment', target: input.path, details: { group: input.group } }, () => deploymentFiles.save(input), ({ file, written }) => ({ details: { file, written } }))
        : deploymentFiles.save(input),
    'servers.list': () => servers.list(),
    'servers.probeHostKey': ({ host, port }) => servers.probeHostKey(host, port),
    'servers.add': (server) =>
      audit.around({ action: 'server.add', target: server.name, details: { host: server.host } }, async () => {
        const added = await servers.add(server);
        // A server that already belongs to groups brings their state (models, versions, keys, members) with it.
        const attached = await groups.attach([added.id]);
        attached.problems.forEach((p) => console.error(`Group state: ${p}`));
        return servers.list().find((s) => s.id === added.id) ?? added;
      }),
    'servers.test': ({ id }) => servers.test(id),
    'servers.switchKey': (input) =>
      audit.around({ action: 'server.login', target: input.serverIds.map((id) => registry.get(id).name).join(', '), details: { keyOrigin: input.auth.path } }, () => servers.switchKey(input)),
    'servers.remove': ({ id }) => audit.around({ action: 'server.remove', target: registry.get(id).name }, () => servers.remove(id)),
    'servers.forget': ({ id }) =>
      audit.around({ action: 'server.forget', target: registry.get(id).name }, async () => {
        const report = await forgetting.forget(id);
        return { servers: servers.remove(id), report };
      }),
    'servers.addLocal': () =>
      audit.around({ action: 'server.add', target: LOCAL_SERVER_NAME, details: { host: 'this computer' } }, () => addThisComputer({ servers, registry, groups, layout })),
    'servers.importSshConfig': ({ path }) => importSshConfig(path),
    'groups.list': () => registry.groups(),
    'groups.create': ({ name, replicas, tls: mode, listen }) =>
      audit.around({ action: 'group.create', target: name, details: { replicas, tls: mode, listen } }, async () => registry.createGroup(name, replicas, { tls: mode, listen })),
    'groups.update': ({ id, ...change }) =>
      audit.around({ action: 'group.update', target: registry.group(id).name, details: { ...change } }, async () => {
        const updated = await groups.updateGroup(registry.group(id).name, change);
        // A server joining an HTTPS group needs its certificate before its gateway refuses plain HTTP for the group.
        if (change.serverIds && updated.tls === 'https') await tls.requireCertificates(updated.name);
        return registry.group(id);
      }),
    'groups.setTls': ({ name, tls: mode, newAuthority }) =>
      audit.around({ action: 'group.tls', target: name, details: { tls: mode, newAuthority } }, () => tls.setMode(name, mode, { newAuthority })),
    'groups.setListen': ({ name, listen }) => audit.around({ action: 'group.listen', target: name, details: { listen } }, () => deploy.setListen(name, listen)),
    'groups.authority': ({ name }) => {
      const { authority } = registry.group(name);
      if (!authority) throw new BerthError('NotFound', `Group "${name}" has no certificate authority yet: it gets one with its first HTTPS certificate (\`berth groups tls ${name} https\`)`);
      return { group: name, ...authority };
    },
    'groups.sync': () => groups.poll(),
    'groups.refresh': ({ name }) => groups.refresh(name),
    'groups.repair': ({ name }) => groups.repair(name),
    'groups.remove': ({ id }) => audit.around({ action: 'group.remove', target: registry.group(id).name }, async () => (groups.removeGroup(id), registry.groups())),
    'build.prepare': ({ path, options }) => builds.prepare(path, options),
    'build.saveEdits': ({ path, dockerfile, requirements }) => builds.saveEdits(path, { dockerfile, requirements }),
    'build.resetEdits': ({ path, files }) => builds.resetEdits(path, files),
    'build.list': ({ path, limit }) => builds.list(path, limit),
    ...accessCalls(access, audit),
    'deploy.models': () => deploy.models(),
    'deploy.model': ({ model }) => deploy.model(model),
    'deploy.setAlias': ({ model, alias, version }) => deploy.setAlias(model, alias, version),
    'deploy.stopVersion': ({ model, version }) => deploy.stopVersion(model, version),
    'deploy.startVersion': ({ model, version }) => deploy.startVersion(model, version),
    ...observability.calls,
    // The servers' agents send the group's alerts, so the webhook lives in the group state; this folder keeps a copy.
    'alerts.setWebhook': ({ groupId, url }) =>
      audit.around({ action: 'group.webhook', target: registry.group(groupId).name, details: { set: url !== null } }, async () => {
        await groups.updateGroup(registry.group(groupId).name, { webhooks: url === null ? [] : [url] });
        return observability.webhooks.set(groupId, url);
      }),
  };
  const streams: StreamHandlers = {
    'status.watch': ({ intervalMs }, emit, signal) => status.watch(intervalMs, emit, signal),
    'build.run': (input, emit, signal) => builds.run(input, emit, signal),
    'deploy.run': (input, emit, signal) => deploy.deployBuild(input, emit, signal),
    'deploy.rollback': ({ model, version }, emit) => deploy.rollback(model, version, emit),
    ...observability.streams,
  };

  return {
    dispatcher: createDispatcher(calls, streams),
    ready,
    services: { settings, engine, projects, status, servers, registry, groups, analysis, builds, access, audit, deploy, orchestrator: deploy.orchestrator, deployStore: deploy.store, observability, tls, renewal },
    close: () => {
      renewal.stop();
      observability.close();
      servers.close();
      db.close();
      releaseFolder();
    },
  };
}
export type Berth = ReturnType<typeof createBerth>;

/**
 * The app and web mode own their data folder (a second one is refused, naming the first); the CLI shares it, saying
 * so when an owner is live. Returns the release of the ownership.
 */
function openDataFolder(options: BerthOptions): () => void {
  if (options.mode !== 'cli') return claimDataFolder(options.home, options.mode);
  const note = sharedFolderNote(options.home);
  if (note) console.error(note);
  return () => {};
}
