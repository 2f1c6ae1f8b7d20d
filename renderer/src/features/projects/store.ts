import { create } from 'zustand';
import type { RecentProject } from '../../../../shared/types';
import type { BerthError } from '../../../../shared/errors';
import { call } from '../../api/client';

interface ProjectsState {
  recent: RecentProject[];
  current?: RecentProject;
  error?: BerthError;
  loadRecent(): Promise<void>;
  /** Opens (and remembers) a project; resolves to it, or undefined when it cannot be opened (see `error`). */
  open(path: string): Promise<RecentProject | undefined>;
  close(): void;
  forget(id: number): Promise<void>;
  dismissError(): void;
}

export const useProjects = create<ProjectsState>((set) => {
  const fail = (error: unknown) => set({ error: error as BerthError });
  return {
    recent: [],
    async loadRecent() {
      await call('projects.recent', {}).then((recent) => set({ recent }), fail);
    },
    async open(path) {
      try {
        const current = await call('projects.open', { path });
        set({ current, error: undefined, recent: await call('projects.recent', {}) });
        return current;
      } catch (error) {
        fail(error);
        return undefined;
      }
    },
    close: () => set({ current: undefined }),
    async forget(id) {
      await call('projects.forget', { id }).then((recent) => set({ recent }), fail);
    },
    dismissError: () => set({ error: undefined }),
  };
});
