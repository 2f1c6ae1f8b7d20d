import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AppInfo } from '../../shared/types';
import { createFileKeyCipher, createSecretStore, type SecretCipher } from './services/access/secrets';
import { createEngineService } from './services/build/engine';
import { createStatusService } from './services/monitor/status';
import { createServerRegistry } from './services/servers/registry';
import { createServersService } from './services/servers/service';
import { importSshConfig } from './services/servers/ssh-config';
import { createRecentProjects } from './services/project/recent';
import { openDatabase } from './services/store/database';
import { createProjectsRepo } from './services/store/projects';
import { createSettingsRepo } from './services/store/settings';
import { createDispatcher, type CallHandlers, type StreamHandlers } from './rpc/dispatcher';

export interface BerthOptions {
  home: string;
  /** Electron passes a safeStorage-backed cipher; elsewhere a 0600 key file in the data folder is used. */
  cipher?: SecretCipher | null;
  mode: AppInfo['mode'];
  version: string;
}

/** Where Berth keeps its data: BERTH_HOME wins, else the platform's config folder (Electron passes its userData). */
export function resolveHome(env: NodeJS.ProcessEnv = process.env, fallback?: string): string {
  if (env.BERTH_HOME) return env.BERTH_HOME;
  if (fallback) return fallback;
  const base = env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(base, 'Berth');
}

/** Composes every service for one data folder; the same composition serves Electron IPC, the web transport and the CLI. */
export function createBerth(options: BerthOptions) {
  const db = openDatabase(join(options.home, 'berth.db'));
  const settings = createSettingsRepo(db);
  const engine = createEngineService(() => settings.get().dockerSocket);
  const projects = createRecentProjects(createProjectsRepo(db));
  const secrets = createSecretStore(db, options.cipher ?? createFileKeyCipher(join(options.home, 'secret.key')));
  const registry = createServerRegistry(db);
  const servers = createServersService({ registry, secrets, agentSocket: process.env.SSH_AUTH_SOCK });
  const status = createStatusService(engine, () => servers.ping());

  const calls: CallHandlers = {
    'app.info': () => ({ version: options.version, mode: options.mode, dataDir: options.home, platform: process.platform }),
    'engine.info': () => engine.info(),
    'settings.get': () => settings.get(),
    'settings.update': (patch) => settings.update(patch),
    'projects.recent': () => projects.recent(),
    'projects.open': ({ path }) => projects.open(path),
    'projects.forget': ({ id }) => projects.forget(id),
    'servers.list': () => servers.list(),
    'servers.probeHostKey': ({ host, port }) => servers.probeHostKey(host, port),
    'servers.add': (server) => servers.add(server),
    'servers.test': ({ id }) => servers.test(id),
    'servers.remove': ({ id }) => servers.remove(id),
    'servers.importSshConfig': ({ path }) => importSshConfig(path),
    'groups.list': () => registry.groups(),
    'groups.create': ({ name, replicas }) => registry.createGroup(name, replicas),
    'groups.update': ({ id, ...change }) => registry.updateGroup(id, change),
    'groups.remove': ({ id }) => (registry.removeGroup(id), registry.groups()),
  };
  const streams: StreamHandlers = {
    'status.watch': ({ intervalMs }, emit, signal) => status.watch(intervalMs, emit, signal),
  };

  return {
    dispatcher: createDispatcher(calls, streams),
    services: { settings, engine, projects, status, servers, registry },
    close: () => {
      servers.close();
      db.close();
    },
  };
}
export type Berth = ReturnType<typeof createBerth>;
