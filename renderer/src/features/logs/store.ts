import { create } from 'zustand';
import type { BerthError } from '../../../../shared/errors';
import type { InferenceQuery, InferenceSearchResult, InferenceStats, SyncResult } from '../../../../shared/logs';
import { busyAction } from '../../api/busy-action';
import { call } from '../../api/client';
import { keyNamesOf } from './callers';

export type RangeKey = '15m' | '1h' | '24h' | '7d' | 'all';
const RANGE_MS: Record<Exclude<RangeKey, 'all'>, number> = { '15m': 15 * 60_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

export interface Filters {
  range: RangeKey;
  model: string;
  version: string;
  status: '' | 'ok' | 'error' | 'client_error' | 'server_error';
  caller: string;
  server: string;
  text: string;
}

interface RequestsState {
  filters: Filters;
  result?: InferenceSearchResult;
  stats?: InferenceStats;
  sync?: SyncResult;
  /** API key id → name, to show callers by name. */
  keyNames: ReadonlyMap<string, string>;
  page: number;
  busy: boolean;
  error?: BerthError;
  setFilter<K extends keyof Filters>(key: K, value: Filters[K]): void;
  search(page?: number): Promise<void>;
  pull(): Promise<void>;
  exportText(format: 'csv' | 'jsonl'): Promise<{ text: string; rows: number } | undefined>;
  exportFile(format: 'csv' | 'jsonl', path: string): Promise<number | undefined>;
  dismiss(): void;
}

export const PAGE_SIZE = 50;

/** The filters as the contract's query (time range resolved to now). */
export function toQuery(filters: Filters): Omit<InferenceQuery, 'limit' | 'offset'> {
  const now = Date.now();
  return {
    ...(filters.range === 'all' ? { from: new Date(0).toISOString() } : { from: new Date(now - RANGE_MS[filters.range]).toISOString() }),
    to: new Date(now + 60_000).toISOString(),
    ...(filters.model ? { model: filters.model } : {}),
    ...(filters.version ? { version: filters.version } : {}),
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.caller ? { caller: filters.caller } : {}),
    ...(filters.server ? { server: filters.server } : {}),
    ...(filters.text ? { text: filters.text } : {}),
  };
}

export const useRequests = create<RequestsState>((set, get) => {
  const act = busyAction(set);
  return {
    filters: { range: '1h', model: '', version: '', status: '', caller: '', server: '', text: '' },
    keyNames: new Map(),
    page: 0,
    busy: false,
    setFilter: (key, value) => set({ filters: { ...get().filters, [key]: value } }),
    search: async (page = 0) =>
      void (await act(async () => {
        const query = toQuery(get().filters);
        const [result, stats, keyNames] = await Promise.all([
          call('inference.search', { ...query, limit: PAGE_SIZE, offset: page * PAGE_SIZE }),
          call('inference.stats', { from: query.from, to: new Date().toISOString(), ...(query.model ? { model: query.model } : {}), buckets: 60 }),
          // without the key list the table still works, showing key ids
          call('access.keys', {}).then(keyNamesOf, () => get().keyNames),
        ]);
        set({ result, stats, keyNames, page });
      })),
    pull: async () =>
      void (await act(async () => {
        set({ sync: await call('inference.sync', {}) });
        await get().search(0);
      })),
    exportText: (format) =>
      act(async () => {
        const result = await call('inference.export', { query: toQuery(get().filters), format });
        return { text: result.text ?? '', rows: result.rows };
      }),
    exportFile: (format, path) => act(async () => (await call('inference.export', { query: toQuery(get().filters), format, path })).rows),
    dismiss: () => set({ error: undefined }),
  };
});
