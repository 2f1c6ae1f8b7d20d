import { create } from 'zustand';
import type { BuildRecord } from '../../../../shared/build';
import type { DeployBuildRequest, DeployEvent, ModelView } from '../../../../shared/deploy';
import type { BerthError } from '../../../../shared/errors';
import type { GroupView } from '../../../../shared/servers';
import { call, subscribe } from '../../api/client';

export interface ServerProgress {
  server: string;
  phase: string;
  message: string;
  bytesSent?: number;
  bytesTotal?: number;
}

interface DeploymentsState {
  models: string[];
  selected?: string;
  model?: ModelView;
  builds: BuildRecord[];
  /** The build the deploy panel offers: the user's pick, else the newest deployable one. */
  buildId?: number;
  groups: GroupView[];
  /** The operation in flight (deploy or rollback): per-server progress and log lines. */
  running: boolean;
  progress: Record<string, ServerProgress>;
  log: string[];
  error?: BerthError;
  notice?: string;
  load(): Promise<void>;
  select(model: string): Promise<void>;
  chooseBuild(id: number): void;
  /** "Deploy…" from a project's passed smoke test: that build, and its model's timeline when it has one. */
  offer(buildId: number): void;
  deploy(request: DeployBuildRequest): void;
  rollback(version: number): void;
  setAlias(alias: string, version: number): Promise<void>;
  stopVersion(version: number): Promise<void>;
  startVersion(version: number): Promise<void>;
  dismiss(): void;
}

/** A build as the deploy panel lists it: its project, its number and its smoke test, not its image tag. */
export function buildLabel(build: Pick<BuildRecord, 'id' | 'project' | 'smoke' | 'createdAt'>): string {
  return `${build.project} #${build.id} · smoke test ${build.smoke?.status ?? 'not run'} · ${new Date(build.createdAt).toLocaleString()}`;
}

export const useDeployments = create<DeploymentsState>((set, get) => {
  const fail = (error: unknown) => set({ error: error as BerthError });
  /** Set by offer(): the next load opens the offered build's model. */
  let offered = false;

  /** Follows a deploy/rollback stream into per-server progress; refreshes the timeline when it ends. */
  function follow(start: (onEvent: (e: DeployEvent) => void, onEnd: (error?: BerthError) => void) => void, model?: string) {
    set({ running: true, progress: {}, log: [], error: undefined, notice: undefined });
    start(
      (event) => {
        if (event.type === 'progress') set({ progress: { ...get().progress, [event.server]: event } });
        else if (event.type === 'log') set({ log: [...get().log, event.message] });
        else set({ notice: `${event.model} v${event.version} is live (${(event.durationMs / 1000).toFixed(1)} s)`, selected: event.model });
      },
      (error) => {
        set({ running: false, ...(error ? { error } : {}) });
        void get().load().then(() => {
          const name = model ?? get().selected;
          if (name) void get().select(name);
        });
      },
    );
  }

  async function refreshModel(promise: Promise<ModelView>) {
    try {
      set({ model: await promise, error: undefined });
    } catch (error) {
      fail(error);
    }
  }

  return {
    models: [],
    builds: [],
    groups: [],
    running: false,
    progress: {},
    log: [],
    async load() {
      try {
        const [models, all, groups] = await Promise.all([call('deploy.models', {}), call('build.list', { limit: 50 }), call('groups.list', {})]);
        const builds = all.filter((b) => b.deployable);
        const buildId = builds.some((b) => b.id === get().buildId) ? get().buildId : builds[0]?.id;
        set({ models, builds, buildId, groups });
        // The offered build's model, unless it was never deployed: then it has no timeline to open.
        const wanted = offered ? builds.find((b) => b.id === buildId)?.project : undefined;
        offered = false;
        const selected = wanted && models.includes(wanted) ? wanted : (get().selected ?? models[0]);
        if (selected && get().model?.name !== selected) await get().select(selected);
      } catch (error) {
        fail(error);
      }
    },
    async select(model) {
      set({ selected: model });
      await refreshModel(call('deploy.model', { model }));
    },
    chooseBuild: (id) => set({ buildId: id }),
    offer(buildId) {
      offered = true;
      set({ buildId });
    },
    deploy: (request) => follow((onEvent, onEnd) => subscribe('deploy.run', request, onEvent, onEnd)),
    rollback(version) {
      const model = get().selected!;
      follow((onEvent, onEnd) => subscribe('deploy.rollback', { model, version }, onEvent, onEnd), model);
    },
    setAlias: (alias, version) => refreshModel(call('deploy.setAlias', { model: get().selected!, alias, version })),
    stopVersion: (version) => refreshModel(call('deploy.stopVersion', { model: get().selected!, version })),
    startVersion: (version) => refreshModel(call('deploy.startVersion', { model: get().selected!, version })),
    dismiss: () => set({ error: undefined, notice: undefined }),
  };
});
