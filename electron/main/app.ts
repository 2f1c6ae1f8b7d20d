import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AppInfo } from '../../shared/types';
import { createEngineService } from './services/build/engine';
import { createStatusService } from './services/monitor/status';
import { createRecentProjects } from './services/project/recent';
import { openDatabase } from './services/store/database';
import { createProjectsRepo } from './services/store/projects';
import { createSettingsRepo } from './services/store/settings';
import { createDispatcher, type CallHandlers, type StreamHandlers } from './rpc/dispatcher';

export interface BerthOptions {
  home: string;
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
  const status = createStatusService(engine, async () => ({ up: 0, total: 0 }));

  const calls: CallHandlers = {
    'app.info': () => ({ version: options.version, mode: options.mode, dataDir: options.home, platform: process.platform }),
    'engine.info': () => engine.info(),
    'settings.get': () => settings.get(),
    'settings.update': (patch) => settings.update(patch),
    'projects.recent': () => projects.recent(),
    'projects.open': ({ path }) => projects.open(path),
    'projects.forget': ({ id }) => projects.forget(id),
  };
  const streams: StreamHandlers = {
    'status.watch': ({ intervalMs }, emit, signal) => status.watch(intervalMs, emit, signal),
  };

  return {
    dispatcher: createDispatcher(calls, streams),
    services: { settings, engine, projects, status },
    close: () => db.close(),
  };
}
export type Berth = ReturnType<typeof createBerth>;
