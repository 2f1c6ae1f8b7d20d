import { afterEach, describe, expect, it } from 'vitest';
import { createInferenceSearch, type InferenceSearch } from '../../../electron/main/services/logs/search';
import { InferenceExportInput, InferenceQuery, InferenceStatsInput } from '../../../shared/logs';
import { fileStore, insertRecords } from './records';

const T0 = Date.UTC(2025, 0, 1, 12);
const now = () => new Date(T0 + 3_600_000);
const query = (input: Parameters<typeof InferenceQuery.parse>[0] = {}) => InferenceQuery.parse(input);

let opened: Array<{ cleanup(): void; search?: InferenceSearch }> = [];
afterEach(async () => {
  for (const o of opened) {
    await o.search?.close();
    o.cleanup();
  }
  opened = [];
});

function setUp(options?: Parameters<typeof createInferenceSearch>[2]) {
  const files = fileStore();
  const search = createInferenceSearch(files.store, now, options);
  opened.push({ ...files, search });
  return { ...files, search };
}

describe('the inference search worker', () => {
  it('answers searches, charts and exports from its own connection, and sees what the main thread commits later', async () => {
    const { db, search } = setUp();
    expect(search.inWorker).toBe(true);
    insertRecords(db, Array.from({ length: 30 }, (_, i) => ({ ts: T0 + i * 1000, output: i % 3 === 0 ? '{"predictions": ["virginica"]}' : undefined })));
    const first = await search.search(query({ text: 'virginica', limit: 5 }));
    expect(first.records.map((r) => r.ts)).toEqual([27, 24, 21, 18, 15].map((i) => new Date(T0 + i * 1000).toISOString()));
    expect(first).toMatchObject({ more: true, total: { count: 10, capped: false } });

    // The worker reads the same file (WAL): a commit on the main connection is in the next answer.
    insertRecords(db, [{ ts: T0 + 100_000, output: '{"predictions": ["virginica"]}' }]);
    expect((await search.search(query({ text: 'virginica', limit: 1 }))).records[0].ts).toBe(new Date(T0 + 100_000).toISOString());

    const stats = await search.stats(InferenceStatsInput.parse({ from: new Date(T0).toISOString(), to: new Date(T0 + 120_000).toISOString(), buckets: 2 }));
    expect(stats.series[0].points.reduce((n, p) => n + p.requests, 0)).toBe(31);
    const csv = await search.export(InferenceExportInput.parse({ query: { from: new Date(T0).toISOString(), text: 'virginica' }, format: 'csv' }));
    expect(csv.rows).toBe(11);
    // A query the worker refuses comes back as the service's error, kind and message intact.
    await expect(search.stats(InferenceStatsInput.parse({ from: new Date(T0).toISOString(), to: new Date(T0).toISOString() }))).rejects.toMatchObject({
      kind: 'ValidationError',
      message: 'The chart range must end after it starts',
    });
  }, 60_000);

  it('rejects cleanly once closed, and once the store is closed', async () => {
    const closing = setUp();
    insertRecords(closing.db, [{ ts: T0 }]);
    expect((await closing.search.search(query())).records).toHaveLength(1);
    const pending = expect(closing.search.search(query())).rejects.toMatchObject({ kind: 'Cancelled', message: 'The inference store is closed' });
    await closing.search.close();
    await pending;
    await expect(closing.search.search(query())).rejects.toMatchObject({ kind: 'Cancelled' });

    const closedStore = setUp();
    insertRecords(closedStore.db, [{ ts: T0 }]);
    closedStore.db.close();
    await expect(closedStore.search.search(query())).rejects.toMatchObject({ kind: 'Cancelled', message: 'The inference store is closed' });
  }, 60_000);

  it('stops a query that runs too long and refuses queries beyond its queue', async () => {
    // Starting the worker alone takes longer than 1 ms, so the first query times out.
    const slow = setUp({ timeoutMs: 1 });
    await expect(slow.search.search(query())).rejects.toMatchObject({ kind: 'ValidationError', message: expect.stringMatching(/took longer than .* and was stopped/) });

    const busy = setUp({ maxQueued: 1 });
    insertRecords(busy.db, [{ ts: T0 }]);
    const [running, waiting, refused] = [busy.search.search(query()), busy.search.search(query()), busy.search.search(query())];
    await expect(refused).rejects.toMatchObject({ kind: 'Conflict', message: expect.stringMatching(/searches are waiting already/) });
    expect((await running).records).toHaveLength(1);
    expect((await waiting).records).toHaveLength(1);
  }, 60_000);
});
