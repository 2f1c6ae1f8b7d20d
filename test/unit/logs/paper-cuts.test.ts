/**
 * Request logs as a new user reads them (issue 16, item 5): callers by key name and unauthenticated ones as such,
 * never "public"; no "v?" series for requests that reached no version; live lines wrapped at words.
 */
import { describe, expect, it } from 'vitest';
import { requestsCommand } from '../../../electron/main/services/logs/requests-cli';
import { createInferenceStore, type GatewayEntry } from '../../../electron/main/services/logs/inference-store';
import { createInferenceSearch } from '../../../electron/main/services/logs/search';
import { openDatabase } from '../../../electron/main/services/store/database';
import type { Call } from '../../../electron/main/rpc/cli-kit';
import { callerLabel, keyNamesOf, NO_KEY } from '../../../renderer/src/features/logs/callers';
import { chartSpecs } from '../../../renderer/src/features/logs/Charts';
import { wrapAtWords } from '../../../renderer/src/features/logs/wrap';
import { formatLogLine, InferenceQuery, InferenceStatsInput, type InferenceRecord } from '../../../shared/logs';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const gw = (seq: number, over: Partial<GatewayEntry> = {}): GatewayEntry => ({
  seq, ts: iso(T0 + seq * 1000), request_id: `r${seq}`, model: 'iris', version: '1', alias: 'latest', caller: 'key_a1',
  method: 'POST', path: '/predict', status: 200, latency_ms: 2, upstream: '127.0.0.1:9101', bytes_in: 1, bytes_out: 2, ...over,
});
const keys = keyNamesOf([{ id: 'key_a1', name: 'billing-service' }]);

describe('callers', () => {
  it('are shown by key name, unknown keys by id, calls without a key as "no key"', () => {
    expect(callerLabel('key_a1', keys)).toBe('billing-service');
    expect(callerLabel('key_ffff', keys)).toBe('key_ffff');
    // the gateway records "public" for a public model's call; a request refused before its key was read has none
    expect(callerLabel('public', keys)).toBe(NO_KEY);
    expect(callerLabel(null, keys)).toBe(NO_KEY);
    expect(NO_KEY).toBe('no key');
  });

  it('berth logs requests prints the key name, and "no key", never "public"', async () => {
    const record = (requestId: string, caller: string | null): InferenceRecord =>
      ({ id: 1, ts: iso(T0), server: 'tb1', requestId, model: 'iris', version: '1', alias: null, caller, method: 'POST', path: '/predict', status: 200, latencyMs: 2,
        replica: null, replicaLatencyMs: null, input: '[1]', output: '[0]', error: null, sources: 'gateway' }) as InferenceRecord;
    const answers: Record<string, unknown> = {
      'deploy.models': ['iris'],
      'inference.sync': { servers: [] },
      'inference.search': { records: [record('a', 'key_a1'), record('b', 'public'), record('c', null)], more: false, gaps: [], tookMs: 1, total: { count: 3, capped: false } },
      'access.keys': [{ id: 'key_a1', name: 'billing-service' }],
    };
    const call = (async (name: string) => answers[name]) as unknown as Call;
    const out: string[] = [];
    await requestsCommand(['iris'])(call, { out: (t) => out.push(t), err: () => {} });
    const callers = out.join('\n').split('\n').map((line) => line.split('\t')[5]);
    expect(callers).toEqual(['billing-service', 'no key', 'no key']);
  });
});

describe('charts', () => {
  it('have a series per version only: requests refused before routing are in none', async () => {
    const store = createInferenceStore(openDatabase(':memory:'));
    store.addGateway({ id: 1, name: 'tb1' }, 0, [
      gw(1),
      gw(2, { version: '2' }),
      gw(3, { version: null, alias: null, caller: null, status: 401, upstream: null }),
      gw(4, { version: null, alias: 'nosuch', status: 404, upstream: null }),
    ]);
    const search = createInferenceSearch(store, () => new Date(T0 + 3_600_000));
    const stats = await search.stats(InferenceStatsInput.parse({ from: iso(T0), to: iso(T0 + 10 * 60_000), buckets: 10 }));
    expect(stats.series.map((s) => s.version)).toEqual(['1', '2']);
    const labels = chartSpecs(stats).charts.flatMap((c) => c.series.map((s) => s.label));
    expect(labels.filter((l) => /v\?|vnull/.test(l))).toEqual([]);
    // the refused requests are still listed
    expect((await search.search(InferenceQuery.parse({ from: iso(T0) }))).records.map((r) => r.status).sort()).toEqual([200, 200, 401, 404]);
  });
});

describe('live log lines', () => {
  const visible = (row: string) => row.replace(/\x1b\[[0-9;]*m/g, '');

  it('wrap at word boundaries within the panel width, continuation rows indented', () => {
    const text = 'the model loaded its weights from /app/model.joblib and is ready to answer requests now\r\n';
    const rows = wrapAtWords(text, 30).split('\r\n');
    expect(rows).toEqual(['the model loaded its weights', '  from /app/model.joblib and', '  is ready to answer requests', '  now', '']);
  });

  it('keep the colours of a formatted line, count only what is visible, and cut a word longer than a row', () => {
    const line = formatLogLine({ s: 0, ts: '2025-01-01T12:00:00.123456Z', text: `ValueError: ${'x'.repeat(50)} at the end`, err: true }, { id: 0, server: 'tb1', container: 'berth-iris-v1-r1' });
    const wrapped = wrapAtWords(line, 24);
    const rows = wrapped.split('\r\n').slice(0, -1);
    expect(rows.map(visible)).toEqual(['12:00:00.123', '  tb1/berth-iris-v1-r1', '  ValueError:', `  ${'x'.repeat(22)}`, `  ${'x'.repeat(22)}`, '  xxxxxx at the end']);
    expect(wrapped).toContain('\x1b[31m');
  });

  it('are left to xterm when the width is unknown or too narrow to help', () => {
    const text = 'a line that is long enough to wrap somewhere\r\n';
    expect(wrapAtWords(text, null)).toBe(text);
    expect(wrapAtWords(text, 10)).toBe(text);
    expect(wrapAtWords('short\r\n', 80)).toBe('short\r\n');
  });
});
