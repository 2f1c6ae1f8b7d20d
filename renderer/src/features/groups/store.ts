import { create } from 'zustand';
import type { BerthError } from '../../../../shared/errors';
import type { GroupSyncView } from '../../../../shared/group-state';
import { busyAction } from '../../api/busy-action';
import { call } from '../../api/client';
import { reloadGroupViews } from './reload';

/** How often the app asks whether another Berth changed a group (a cheap check per group on the servers). */
export const SYNC_INTERVAL_MS = 10_000;

interface GroupsState {
  /** Each group as the last poll (or copy check) saw it. */
  views: GroupSyncView[];
  /** The last copy check of each group: by "Check copies", "Repair copies", or a poll that found the group changed. */
  checks: Record<string, GroupSyncView & { checkedAt: string }>;
  /** When a poll last answered. */
  syncedAt?: string;
  /** Why the last poll failed (cleared by the next one that answers). */
  syncError?: BerthError;
  /** The group whose copies are being checked or repaired. */
  checking?: string;
  busy: boolean;
  error?: BerthError;
  /** Polls `groups.sync` every 10 s while the window is visible; returns the stop function (for unmount). */
  start(): () => void;
  sync(): Promise<void>;
  check(group: string): Promise<void>;
  repair(group: string): Promise<void>;
  dismissError(): void;
}

export const useGroups = create<GroupsState>((set, get) => {
  const act = busyAction(set);
  let listeners = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let inFlight: Promise<void> | null = null;

  /**
   * Takes in what a poll or a check answered. When a group's revision (or hash) differs from what was seen before,
   * the stores that show group state reload; the first poll only records what is there.
   */
  function absorb(incoming: GroupSyncView[], complete: boolean) {
    const before = get().views;
    const known = new Map(before.map((v) => [v.group, v]));
    const changed = incoming.some((v) => {
      const seen = known.get(v.group);
      return seen ? seen.revision !== v.revision || seen.hash !== v.hash : get().syncedAt !== undefined && v.revision !== null;
    });
    const checkedAt = new Date().toISOString();
    const checks = { ...get().checks };
    for (const v of incoming) if (v.copies.length > 0) checks[v.group] = { ...v, checkedAt };
    const views = complete ? incoming : before.map((v) => incoming.find((i) => i.group === v.group) ?? v).concat(incoming.filter((i) => !known.has(i.group)));
    if (complete) for (const name of Object.keys(checks)) if (!incoming.some((v) => v.group === name)) delete checks[name];
    set({ views, checks });
    if (changed) void reloadGroupViews();
  }

  const visible = () => typeof document === 'undefined' || document.visibilityState === 'visible';

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (listeners > 0 && visible()) timer = setTimeout(() => void get().sync().then(schedule), SYNC_INTERVAL_MS);
  }

  function onVisibility() {
    if (!visible()) {
      if (timer) clearTimeout(timer);
      timer = null;
      return;
    }
    // Back in view: catch up now if the last answer is older than one interval, then poll on.
    const last = get().syncedAt;
    if (!last || Date.now() - new Date(last).getTime() >= SYNC_INTERVAL_MS) void get().sync().then(schedule);
    else schedule();
  }

  return {
    views: [],
    checks: {},
    busy: false,
    start() {
      listeners++;
      if (listeners === 1) {
        document.addEventListener('visibilitychange', onVisibility);
        if (visible()) void get().sync().then(schedule);
      }
      return () => {
        listeners--;
        if (listeners > 0) return;
        document.removeEventListener('visibilitychange', onVisibility);
        if (timer) clearTimeout(timer);
        timer = null;
      };
    },
    sync() {
      // One call in flight at a time: a second caller waits for the same answer.
      inFlight ??= (async () => {
        try {
          const views = await call('groups.sync', {});
          absorb(views, true);
          set({ syncedAt: new Date().toISOString(), syncError: undefined });
        } catch (error) {
          set({ syncError: error as BerthError });
        } finally {
          inFlight = null;
        }
      })();
      return inFlight;
    },
    check: async (group) =>
      void (await act(async () => {
        set({ checking: group });
        try {
          absorb([await call('groups.refresh', { name: group })], false);
        } finally {
          set({ checking: undefined });
        }
      })),
    repair: async (group) =>
      void (await act(async () => {
        set({ checking: group });
        try {
          absorb([await call('groups.repair', { name: group })], false);
        } finally {
          set({ checking: undefined });
        }
      })),
    dismissError: () => set({ error: undefined }),
  };
});
