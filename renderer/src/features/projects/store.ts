import { create } from 'zustand';
import type { RecentProject } from '../../../../shared/types';
import type { BerthError } from '../../../../shared/errors';
import { call } from '../../api/client';

interface ProjectsState {
  recent: RecentProject[];
  current?: RecentProject;
  error?: BerthError;
  loadRecent(): Promise<void>;
  open(path: string): Promise<void>;
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
      } catch (error) {
        fail(error);
      }
    },
    async forget(id) {
      await call('projects.forget', { id }).then((recent) => set({ recent }), fail);
    },
    dismissError: () => set({ error: undefined }),
  };
});
