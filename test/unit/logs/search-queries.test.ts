import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceQueries, filterClause, TOTAL_CAP, type InferenceQueries } from '../../../electron/main/services/logs/search-queries';
import type { Db } from '../../../electron/main/services/store/database';
import { InferenceQuery } from '../../../shared/logs';
import { fileStore, insertRecords, type TestRecord } from './records';

const T0 = Date.UTC(2025, 0, 1);
const NOW = T0 + 7 * 86_400_000;
const N = 16_000;

let files: ReturnType<typeof fileStore>;
let queries: InferenceQueries;

/**
 * Enough records that a common word takes the sliced path (more than 5000 matches): several per millisecond at
 * times (slices must not split ties), and one server's records of a stretch inserted last, as after an outage (ids
 * out of time order). The oldest 6000 alone say "early", so a search for it misjudges the density at first.
 */
beforeAll(() => {
  files = fileStore();
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const late: TestRecord[] = [];
  const inOrder: TestRecord[] = [];
  for (let i = 0; i < N; i++) {
    const ts = T0 + Math.floor(i / 3) * 37_000; // three records per timestamp
    const failed = rand() < 0.05;
    const record: TestRecord = {
      ts,
      caller: `key_${i % 5}`,
      server: `tb${(i % 3) + 1}`,
      version: String(1 + (i % 4 === 0 ? 1 : 0)),
      status: failed ? 500 : i % 17 === 0 ? 404 : 200,
      input: `{"inputs": [${i}], "tag": "${rand() < 0.6 ? 'common' : 'other'}", "id": "id${i}", "phase": "${i < 6000 ? 'early' : 'later'}"}`,
      output: failed ? null : `{"predictions": ["${['setosa', 'versicolor', 'virginica'][i % 3]}"]}`,
      error: failed ? `ValueError: sample ${i % 7 === 0 ? 'petal' : 'sepal'} out of range` : i % 29 === 0 ? 'model warning' : null,
    };
    (record.server === 'tb3' && i > N * 0.4 && i < N * 0.6 ? late : inOrder).push(record);
  }
  insertRecords(files.db, [...inOrder, ...late]);
  queries = createInferenceQueries(files.db);
});
afterAll(() => files.cleanup());

/** Today's search before the rewrite, as the oracle: the FTS subquery unbounded, then filter, sort and page. */
function oracle(db: Db, input: ReturnType<typeof InferenceQuery.parse>) {
  const { sql, params, fts } = filterClause(input, { fromMs: 0, toMs: NOW + 3_600_000 });
  const text = fts ? ' AND r.id IN (SELECT rowid FROM inference_fts WHERE inference_fts MATCH @fts)' : '';
  const all = db.prepare(`SELECT r.id FROM inference_requests r WHERE ${sql}${text} ORDER BY r.ts_ms DESC, r.id DESC`).pluck().all({ ...params, ...(fts ? { fts } : {}) }) as number[];
  const end = input.offset + input.limit;
  const cap = Math.max(end, TOTAL_CAP);
  return { ids: all.slice(input.offset, end), more: all.length > end, total: { count: Math.min(all.length, cap), capped: all.length > cap } };
}

const shapes: Array<[string, Parameters<typeof InferenceQuery.parse>[0]]> = [
  ['no filter', {}],
  ['rare token', { text: 'id4242' }],
  ['common word', { text: 'common' }],
  ['common word, deep page', { text: 'common', offset: 4000, limit: 50 }],
  ['prefix + version + caller', { text: 'virgin*', version: '2', caller: 'key_3' }],
  ['prefix + version + caller, past the end', { text: 'virgin*', version: '2', caller: 'key_3', offset: 900, limit: 200 }],
  ['two words + server error', { text: 'ValueError sepal', status: 'server_error' }],
  ['common word + model errors', { text: 'common', status: 'error', limit: 30 }],
  ['common word + server in the late stretch', { text: 'common', server: 'tb3', to: new Date(T0 + Math.floor((N * 0.55) / 3) * 37_000).toISOString(), offset: 100 }],
  ['common word in a window', { text: 'common', from: new Date(T0 + 30_000_000).toISOString(), to: new Date(T0 + 31_000_000).toISOString() }],
  ['filters only, deep', { caller: 'key_1', status: 'ok', offset: 2000 }],
  ['status code', { status: 404, limit: 1000 }],
  ['a word only the oldest records have (slices grow until they reach them)', { text: 'early', caller: 'key_2', offset: 500 }],
  ['nothing matches', { text: 'common nosuchword' }],
];

describe('inference search at scale (sliced FTS, covering index)', () => {
  it.each(shapes)('%s: the same page, order and count as an unbounded search', (_name, input) => {
    const parsed = InferenceQuery.parse(input);
    const expected = oracle(files.db, parsed);
    const result = queries.search(parsed, NOW);
    expect(result.records.map((r) => r.id)).toEqual(expected.ids);
    expect({ more: result.more, total: result.total }).toEqual({ more: expected.more, total: expected.total });
  });

  it('counts up to 1000 ("1000+"), or to the end of a deeper page', () => {
    expect(queries.search(InferenceQuery.parse({ text: 'common', limit: 10 }), NOW).total).toEqual({ count: 1000, capped: true });
    expect(queries.search(InferenceQuery.parse({ text: 'common', limit: 100, offset: 5000 }), NOW).total).toEqual({ count: 5100, capped: true });
    expect(queries.search(InferenceQuery.parse({ text: 'id4242' }), NOW).total).toEqual({ count: 1, capped: false });
  });

  it('reads pages from the covering index, never the records, for filters and the time order', () => {
    const { sql } = filterClause(InferenceQuery.parse({ model: 'iris', version: '2', caller: 'k', server: 's', status: 'error' }), { fromMs: 0, toMs: 1 });
    const plan = files.db
      .prepare(`EXPLAIN QUERY PLAN SELECT r.id FROM inference_requests r INDEXED BY inference_scan WHERE ${sql} ORDER BY r.ts_ms DESC, r.id DESC LIMIT 10`)
      .all({ fromMs: 0, toMs: 1, model: 'iris', version: '2', caller: 'k', server: 's' }) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail)).toEqual(['SEARCH r USING COVERING INDEX inference_scan (ts_ms>? AND ts_ms<?)']);
  });
});
