import { create } from 'zustand';
import type { BerthError } from '../../../../shared/errors';
import type { Alert, BerthEvent, MonitorSnapshot, Webhook } from '../../../../shared/monitor';
import { call, subscribe } from '../../api/client';

interface AlertsState {
  open: Alert[];
  history: Alert[];
  events: BerthEvent[];
  webhooks: Webhook[];
  snapshot?: MonitorSnapshot;
  monitorError?: string;
  error?: BerthError;
  /** Follows the alert stream (for the badge and the list); returns the stop function. */
  start(): () => void;
  /** Follows the health snapshot while the dashboard is shown. */
  watchHealth(): () => void;
  loadHistory(): Promise<void>;
  setWebhook(groupId: number, url: string | null): Promise<void>;
  dismiss(): void;
}

let listeners = 0;
let stopStream: (() => void) | null = null;

export const useAlerts = create<AlertsState>((set, get) => ({
  open: [],
  history: [],
  events: [],
  webhooks: [],
  start() {
    // Several components may want the stream (badge, list): one subscription, counted.
    listeners++;
    if (!stopStream) {
      stopStream = subscribe(
        'alerts.watch',
        {},
        (event) => {
          if (event.type === 'snapshot') set({ open: event.open });
          else if (event.type === 'opened') set({ open: [event.alert, ...get().open.filter((a) => a.id !== event.alert.id)] });
          else set({ open: get().open.filter((a) => a.id !== event.alert.id) });
          if (event.type !== 'snapshot') void get().loadHistory();
        },
        (error) => error && set({ error }),
      );
    }
    return () => {
      listeners--;
      if (listeners === 0 && stopStream) {
        stopStream();
        stopStream = null;
      }
    };
  },
  watchHealth() {
    return subscribe(
      'monitor.watch',
      {},
      (snapshot) => set({ snapshot, monitorError: undefined }),
      (error) => error && set({ monitorError: error.message }),
    );
  },
  async loadHistory() {
    try {
      const [history, events, webhooks] = await Promise.all([
        call('alerts.list', { state: 'all', limit: 100 }),
        call('events.list', { limit: 100 }),
        call('alerts.webhooks', {}),
      ]);
      set({ history, events, webhooks });
    } catch (error) {
      set({ error: error as BerthError });
    }
  },
  async setWebhook(groupId, url) {
    try {
      set({ webhooks: await call('alerts.setWebhook', { groupId, url }), error: undefined });
    } catch (error) {
      set({ error: error as BerthError });
    }
  },
  dismiss: () => set({ error: undefined }),
}));
