import { create } from 'zustand';
import type { AppInfo, StatusSnapshot } from '../../../../shared/types';
import { call, subscribe } from '../../api/client';

export const pages = ['projects', 'servers', 'deployments', 'logs', 'access', 'settings'] as const;
export type Page = (typeof pages)[number];

interface AppState {
  page: Page;
  info?: AppInfo;
  status?: StatusSnapshot;
  statusError?: string;
  go(page: Page): void;
  /** Loads app info and follows the status feed; returns the unsubscribe for unmount. */
  start(): () => void;
}

export const useApp = create<AppState>((set) => ({
  page: 'projects',
  go: (page) => set({ page }),
  start() {
    call('app.info', {}).then((info) => set({ info }), (err) => set({ statusError: err.message }));
    return subscribe(
      'status.watch',
      { intervalMs: 3000 },
      (status) => set({ status, statusError: undefined }),
      (error) => error && set({ statusError: error.message }),
    );
  },
}));
