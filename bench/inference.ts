/**
 * `npm run bench:inference`: the local inference store's search at 1M records (issue 15 item 11), before and after,
 * in one run on one SQLite file. No test bed: it fills a fresh file itself.
 *
 * 1. A data folder's SQLite file with every migration before the search index (the schema "before" ran on), filled
 *    with 1M joined records in one transaction (the distribution of test/integration/logs/scale.test.ts, plus one
 *    server's six-hour outage whose records arrive when it returns: ids out of time order).
 * 2. "before": the search as it was (kept below, verbatim, as `before`), on the main thread, on that schema.
 * 3. The remaining migrations (the covering index), then "after": the service the app calls, through its worker.
 * Each shape runs BENCH_RUNS times (default 15) after one warm-up; p50/p95 are nearest-rank. Both answers must hold
 * the same records in the same order. The event loop's longest stall is measured in each phase (a search on the
 * main thread stalls it for as long as the search runs). Last, a retention pass over 100k records.
 * Prints a table and writes bench/results/<time>-inference.json.
 */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInferenceStore, toRecord, type InferenceStore, type Row as StoredRow } from '../electron/main/services/logs/inference-store';
import { createRetention } from '../electron/main/services/logs/retention';
import { createInferenceSearch } from '../electron/main/services/logs/search';
import { migrate, type Db } from '../electron/main/services/store/database';
import { migrations } from '../electron/main/services/store/migrations';
import { InferenceQuery, type InferenceSearchResult, type ParsedInferenceQuery } from '../shared/logs';
import { machine } from './lib';

const N = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const GOAL_MS = 100;
const T0 = Date.UTC(2025, 0, 1);
const SPAN_MS = 7 * 86_400_000;
const NOW = T0 + SPAN_MS;
const WORDS = ['setosa', 'versicolor', 'virginica', 'petal', 'sepal', 'width', 'length', 'tiny', 'large', 'outlier'];
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------------------------
// before: electron/main/services/logs/search.ts as it was, its SQL unchanged (it ran on the main thread).

type Filters = Omit<ParsedInferenceQuery, 'limit' | 'offset'>;

function beforeFts(text: string | undefined): string | null {
  const words = text?.match(/[\p{L}\p{N}_]+\*?/gu) ?? [];
  if (words.length === 0) return null;
  return words.map((w) => (w.endsWith('*') ? `"${w.slice(0, -1)}"*` : `"${w}"`)).join(' ');
}

function beforeWhere(filters: Filters, defaults: { fromMs: number; toMs: number }) {
  const clauses = ['r.ts_ms BETWEEN @fromMs AND @toMs'];
  const params: Record<string, unknown> = {
    fromMs: filters.from ? Date.parse(filters.from) : defaults.fromMs,
    toMs: filters.to ? Date.parse(filters.to) : defaults.toMs,
  };
  if (filters.model) (clauses.push('r.model = @model'), (params.model = filters.model));
  if (filters.version) (clauses.push('r.version = @version'), (params.version = filters.version));
  if (filters.caller) (clauses.push('r.caller = @caller'), (params.caller = filters.caller));
  if (filters.server) (clauses.push('r.server_name = @server'), (params.server = filters.server));
  const status = filters.status;
  if (typeof status === 'number') (clauses.push('r.status = @status'), (params.status = status));
  else if (status === 'ok') clauses.push('r.status < 400');
  else if (status === 'client_error') clauses.push('r.status BETWEEN 400 AND 499');
  else if (status === 'server_error') clauses.push('r.status >= 500');
  else if (status === 'error') clauses.push('(r.status >= 400 OR r.error IS NOT NULL)');
  const fts = beforeFts(filters.text);
  if (fts) {
    clauses.push('r.id IN (SELECT rowid FROM inference_fts WHERE inference_fts MATCH @fts)');
    params.fts = fts;
  }
  return { sql: clauses.join(' AND '), params };
}

const BEFORE_COLUMNS = `r.id, r.server_name, r.request_id, r.ts_ms, r.model, r.version, r.alias, r.caller, r.method, r.path, r.status,
r.latency_ms, r.replica_container, r.replica_latency_ms, r.input, r.output, r.error, r.gw_seq, r.replica_ts`;

function beforeSearch(store: InferenceStore, query: ParsedInferenceQuery, nowMs: number) {
  const db: Db = store.db;
  const started = performance.now();
  const { sql, params } = beforeWhere(query, { fromMs: 0, toMs: nowMs + 3_600_000 });
  const rows = db
    .prepare(`SELECT ${BEFORE_COLUMNS} FROM inference_requests r WHERE ${sql} ORDER BY r.ts_ms DESC, r.id DESC LIMIT @limit OFFSET @offset`)
    .all({ ...params, limit: query.limit + 1, offset: query.offset }) as StoredRow[];
  const records = rows.slice(0, query.limit).map(toRecord);
  const gaps = store.gaps(params.fromMs as number, params.toMs as number);
  return { records, more: rows.length > query.limit, tookMs: Math.round((performance.now() - started) * 10) / 10, gaps };
}

/** A total the way a pager without a cap would get it: COUNT(*) over every match. */
function beforeCount(store: InferenceStore, query: ParsedInferenceQuery, nowMs: number): number {
  const { sql, params } = beforeWhere(query, { fromMs: 0, toMs: nowMs + 3_600_000 });
  return store.db.prepare(`SELECT count(*) FROM inference_requests r WHERE ${sql}`).pluck().get(params) as number;
}

// ---------------------------------------------------------------------------------------------------------------

interface Shape {
  name: string;
  query: Parameters<typeof InferenceQuery.parse>[0];
  /** Also counts every match (before: COUNT(*); after: the capped count every search returns anyway). */
  count?: boolean;
}

const shapes: Shape[] = [
  { name: 'rare token', query: { text: 'id424242' } },
  { name: 'common word, newest 100', query: { text: 'outlier' } },
  { name: 'error text + status', query: { text: 'ValueError petal', status: 'server_error' } },
  { name: 'prefix + model + caller', query: { text: 'virgin*', model: 'iris', caller: 'key_3' } },
  { name: 'prefix + model + version + caller', query: { text: 'virgin*', model: 'iris', version: '2', caller: 'key_3' } },
  { name: 'text in a one-hour window', query: { text: 'sepal', from: iso(T0 + 86_400_000), to: iso(T0 + 86_400_000 + 3_600_000) } },
  { name: 'common word, one server, during its outage', query: { text: 'outlier', server: 'tb3', to: iso(T0 + 3 * 86_400_000 + 4 * 3_600_000) } },
  { name: 'filters only (caller + 5xx), deep page', query: { caller: 'key_3', status: 'server_error', offset: 2000, limit: 50 } },
  { name: 'common word + caller + model errors, all time', query: { text: 'sepal', caller: 'key_3', status: 'error', offset: 100, limit: 50 } },
  { name: 'prefix + model + caller + ok, deep page (offset 5000)', query: { text: 'virgin*', model: 'iris', caller: 'key_3', status: 'ok', offset: 5000, limit: 50 } },
  { name: 'prefix + model + caller + ok, deep page, with a total', query: { text: 'virgin*', model: 'iris', caller: 'key_3', status: 'ok', offset: 5000, limit: 50 }, count: true },
];

/** A fresh SQLite file with the migrations before the one that adds the search index, as the old code ran on. */
function openBefore(file: string): { db: Db; searchMigration: number } {
  const searchMigration = migrations.find((m) => m.sql.includes('CREATE INDEX inference_scan'))!.version;
  const db = new Database(file);
  // The fill is one transaction of ~450 MB: no journal for it (WAL would write every page twice); WAL after, as Berth runs.
  db.pragma('journal_mode = MEMORY');
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = ON');
  for (const m of migrations.filter((x) => x.version < searchMigration)) {
    db.exec(m.sql);
    db.pragma(`user_version = ${m.version}`);
  }
  return { db, searchMigration };
}

/** 1M joined records in one transaction through one prepared statement (the FTS triggers index them). */
function fill(db: Db): number {
  const started = performance.now();
  const insert = db.prepare(
    `INSERT INTO inference_requests (server_id, server_name, request_id, ts_ms, model, version, alias, caller, method, path, status,
       latency_ms, upstream, bytes_in, bytes_out, gw_epoch, gw_seq, replica_container, replica_id, replica_ts, replica_status,
       replica_latency_ms, input, output, error)
     VALUES (?, ?, ?, ?, 'iris', ?, NULL, ?, 'POST', '/predict', ?, ?, '127.0.0.1:9101', 40, 30, 0, ?, 'berth-iris-v1-r1', 'c0ffee', ?, ?, 1.5, ?, ?, ?)`,
  );
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const outage = { from: T0 + 3 * 86_400_000, to: T0 + 3 * 86_400_000 + 6 * 3_600_000 };
  db.transaction(() => {
    const late: unknown[][] = [];
    for (let i = 0; i < N; i++) {
      const server = (i % 3) + 1;
      const ts = T0 + Math.floor((i / N) * SPAN_MS);
      const word = WORDS[Math.floor(rand() * WORDS.length)];
      const failed = rand() < 0.02;
      const version = String(1 + (i % 4 === 0 ? 1 : 0));
      const row = [
        server, `tb${server}`, `req-${i}`, ts, version, `key_${i % 7}`, failed ? 500 : 200, 2 + rand() * 40, Math.floor(i / 3) + 1,
        `${iso(ts).slice(0, 19)}.${String(i).padStart(9, '0')}Z`, failed ? 500 : 200,
        `{"inputs": [[${(rand() * 8).toFixed(1)}, ${(rand() * 4).toFixed(1)}], "${word}", "id${i}"]}`,
        failed ? null : `{"predictions": ["${WORDS[i % 3]}"]}`, failed ? `ValueError: ${word} out of range` : null,
      ];
      // tb3 is unreachable for six hours; its records are pulled when it returns (new ids, old times).
      if (server === 3 && ts >= outage.from && ts < outage.to) late.push(row);
      else insert.run(...row);
      if (late.length > 0 && ts >= outage.to) for (const r of late.splice(0)) insert.run(...r);
    }
  })();
  return performance.now() - started;
}

const nearestRank = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)];
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** Runs `fn` once to warm up, then RUNS times; also the event loop's longest stall meanwhile. */
async function measure(fn: () => unknown): Promise<{ p50: number; p95: number; runs: number[]; stallMs: number; last: unknown }> {
  let last = await fn();
  const stall = monitorEventLoopDelay({ resolution: 1 });
  stall.enable();
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    last = await fn();
    runs.push(performance.now() - t);
    // Let the delay monitor's timer run between queries, so a blocked loop is seen as one.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  stall.disable();
  return { p50: nearestRank(runs, 50), p95: nearestRank(runs, 95), runs, stallMs: stall.max / 1e6, last };
}

async function main() {
  const started = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-inference-'));
  const file = join(dir, 'berth.db');
  try {
    console.log(`[bench] filling ${N} records into ${file} …`);
    const { db, searchMigration } = openBefore(file);
    const fillMs = fill(db);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    console.log(`[bench] filled in ${(fillMs / 1000).toFixed(1)} s (${Math.round(N / (fillMs / 1000))} records/s), ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB`);
    const store = createInferenceStore(db);

    type Result = { name: string; before: Awaited<ReturnType<typeof measure>>; after?: Awaited<ReturnType<typeof measure>>; total?: number };
    const results: Result[] = [];
    for (const shape of shapes) {
      const q = InferenceQuery.parse(shape.query);
      const run = shape.count ? () => ({ page: beforeSearch(store, q, NOW), total: beforeCount(store, q, NOW) }) : () => ({ page: beforeSearch(store, q, NOW) });
      const m = await measure(run);
      results.push({ name: shape.name, before: m, total: (m.last as { total?: number }).total });
      console.log(`[bench] before  ${shape.name}: p50 ${fmt(m.p50)} ms, p95 ${fmt(m.p95)} ms`);
    }

    const migrateStarted = performance.now();
    migrate(db);
    const migrateMs = performance.now() - migrateStarted;
    console.log(`[bench] migration ${searchMigration} (the covering index) on ${N} records: ${(migrateMs / 1000).toFixed(1)} s`);

    const search = createInferenceSearch(store, () => new Date(NOW));
    const mismatches: string[] = [];
    for (const [i, shape] of shapes.entries()) {
      const q = InferenceQuery.parse(shape.query);
      const m = await measure(() => search.search(q));
      results[i].after = m;
      const old = (results[i].before.last as { page: { records: Array<{ id: number }>; more: boolean } }).page;
      const now = m.last as InferenceSearchResult;
      const same = JSON.stringify(old.records.map((r) => r.id)) === JSON.stringify(now.records.map((r) => r.id)) && old.more === now.more;
      if (!same) mismatches.push(shape.name);
      if (shape.count && results[i].total !== undefined) {
        const expected = { count: Math.min(results[i].total!, Math.max(q.offset + q.limit, 1000)), capped: results[i].total! > Math.max(q.offset + q.limit, 1000) };
        if (JSON.stringify(expected) !== JSON.stringify(now.total)) mismatches.push(`${shape.name} (total)`);
      }
      console.log(`[bench] after   ${shape.name}: p50 ${fmt(m.p50)} ms, p95 ${fmt(m.p95)} ms${same ? '' : '  (DIFFERENT RECORDS)'}`);
    }
    await search.close();

    // Retention: the oldest tenth of the records (100k of 1M) beyond a maximum row count, in the batches ingest uses.
    const batchMs: number[] = [];
    const timedBatch = <A extends unknown[]>(fn: (...args: A) => number) => (...args: A) => {
      const t = performance.now();
      const n = fn(...args);
      batchMs.push(performance.now() - t);
      return n;
    };
    // Each call is one batch on the main thread: the age check (nothing is old here), then the oldest beyond the count.
    const timed = { deleteOlderThan: store.deleteOlderThan, rowsBeyond: store.rowsBeyond, deleteOldest: timedBatch(store.deleteOldest) };
    const pruneStarted = performance.now();
    const deleted = await createRetention({ store: timed, policy: () => ({ days: 3650, maxRows: Math.round(N * 0.9) }), now: () => new Date(NOW), maxBatches: 1000 }).run();
    const pruneMs = performance.now() - pruneStarted;
    db.close();

    const worst = results.reduce((a, b) => (b.after!.p50 > a.after!.p50 ? b : a));
    const table = [
      '| shape | before p50 | before p95 | after p50 | after p95 | before ÷ after (p50) |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...results.map((r) => `| ${r.name} | ${fmt(r.before.p50)} ms | ${fmt(r.before.p95)} ms | ${fmt(r.after!.p50)} ms | ${fmt(r.after!.p95)} ms | ${(r.before.p50 / r.after!.p50).toFixed(1)}× |`),
    ].join('\n');
    const stallBefore = Math.max(...results.map((r) => r.before.stallMs));
    const stallAfter = Math.max(...results.map((r) => r.after!.stallMs));
    const info = machine();
    console.log(`\nInference search at ${N} records, ${started.toISOString()} — ${info.cores} cores (${info.cpuModel}), ${info.memoryGiB} GiB, Node ${info.node}, load ${info.load}`);
    console.log(`${RUNS} runs per shape after one warm-up; before: the old search on the main thread, on the schema before migration ${searchMigration}; after: createInferenceSearch (worker) after it.\n`);
    console.log(table);
    console.log(`\nworst after: ${worst.name}, p50 ${fmt(worst.after!.p50)} ms, p95 ${fmt(worst.after!.p95)} ms (goal ≤ ${GOAL_MS} ms: ${worst.after!.p50 <= GOAL_MS ? 'met' : 'MISSED'})`);
    console.log(`longest event-loop stall while searching: before ${fmt(stallBefore)} ms, after ${fmt(stallAfter)} ms`);
    console.log(`same records, same order before and after: ${mismatches.length === 0 ? 'yes, every shape' : `NO: ${mismatches.join('; ')}`}`);
    console.log(`fill ${(fillMs / 1000).toFixed(1)} s; migration ${searchMigration} ${(migrateMs / 1000).toFixed(1)} s; retention: ${deleted} records in ${batchMs.length} batches, ${(pruneMs / 1000).toFixed(1)} s, a batch p50 ${fmt(nearestRank(batchMs, 50))} ms, p95 ${fmt(nearestRank(batchMs, 95))} ms`);

    const out = join(__dirname, 'results');
    mkdirSync(out, { recursive: true });
    const path = join(out, `${started.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')}-inference.json`);
    writeFileSync(
      path,
      `${JSON.stringify(
        {
          startedAt: started.toISOString(),
          finishedAt: new Date().toISOString(),
          machine: info,
          rows: N,
          runs: RUNS,
          fillMs,
          migration: { version: searchMigration, ms: migrateMs },
          shapes: results.map((r, i) => ({
            name: r.name,
            query: shapes[i].query,
            count: shapes[i].count ?? false,
            before: { p50: r.before.p50, p95: r.before.p95, runs: r.before.runs, stallMs: r.before.stallMs },
            after: { p50: r.after!.p50, p95: r.after!.p95, runs: r.after!.runs, stallMs: r.after!.stallMs },
          })),
          worst: { name: worst.name, p50: worst.after!.p50, p95: worst.after!.p95, goalMs: GOAL_MS, met: worst.after!.p50 <= GOAL_MS },
          sameRecords: mismatches.length === 0,
          mismatches,
          retention: { deleted, batches: batchMs.length, ms: pruneMs, batchP50: nearestRank(batchMs, 50), batchP95: nearestRank(batchMs, 95) },
          table,
        },
        null,
        1,
      )}\n`,
    );
    console.log(`\nwritten: ${path}`);
    if (mismatches.length > 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
