/**
 * The inference queries on one SQLite connection, synchronous. The search worker (search-worker.ts) runs them on its
 * own read-only connection, so a slow search never blocks the main thread; an in-memory store runs them inline.
 */
import { BerthError } from '../../../../shared/errors';
import type { InferenceRecord, InferenceSearchResult, InferenceStats, IngestGap, ParsedInferenceQuery, StatsPoint } from '../../../../shared/logs';
import type { Db } from '../store/database';
import { GAPS_SQL, toGap, toRecord, type GapRow, type Row } from './inference-store';

const HOUR = 3_600_000;

/** A search counts its matches up to here and answers "1000+" beyond (a page never counts a million rows). */
export const TOTAL_CAP = 1000;
/** A text matching at most this many records is looked up row by row; a commoner one is intersected by time slices. */
const FEW_MATCHES = 5000;
/** Time slices hold between these many filtered records (the first one sized from the text's density). */
const SLICE_MIN = 1000;
const SLICE_MAX = 50_000;
/** Export pages. */
export const EXPORT_PAGE = 2000;

export type Filters = Omit<ParsedInferenceQuery, 'limit' | 'offset'>;
export interface ExportCursor {
  afterTs: number;
  afterId: number;
}

/** Turns what the user typed into a safe FTS5 expression: every word must occur; `word*` matches a prefix. */
export function ftsExpression(text: string | undefined): string | null {
  const words = text?.match(/[\p{L}\p{N}_]+\*?/gu) ?? [];
  if (words.length === 0) return null;
  return words.map((w) => (w.endsWith('*') ? `"${w.slice(0, -1)}"*` : `"${w}"`)).join(' ');
}

/**
 * The filters as a WHERE clause over `r` that the covering index inference_scan answers alone (migration 14): every
 * column it reads is in the index, `(r.error IS NOT NULL) = 1` included. The text is not in it (see textIds).
 */
export function filterClause(filters: Filters, defaults: { fromMs: number; toMs: number }) {
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
  else if (status === 'error') clauses.push('(r.status >= 400 OR (r.error IS NOT NULL) = 1)');
  return { sql: clauses.join(' AND '), params, fts: ftsExpression(filters.text) };
}

const COLUMNS = `r.id, r.server_name, r.request_id, r.ts_ms, r.model, r.version, r.alias, r.caller, r.method, r.path, r.status,
  r.latency_ms, r.replica_container, r.replica_latency_ms, r.input, r.output, r.error, r.gw_seq, r.replica_ts`;

/** Search, charts and export pages over the inference records of `db` (a connection of its own in the worker). */
export function createInferenceQueries(db: Db) {
  // Statements are prepared once per WHERE shape: a session repeats a handful of filter combinations.
  const prepared = new Map<string, ReturnType<Db['prepare']>>();
  const statement = (sql: string) => {
    let s = prepared.get(sql);
    if (!s) {
      s = db.prepare(sql);
      prepared.set(sql, s);
    }
    return s;
  };
  const ftsSample = db.prepare<{ fts: string; n: number }, number>('SELECT rowid FROM inference_fts WHERE inference_fts MATCH @fts LIMIT @n').pluck();
  const firstId = db.prepare<[], number | null>('SELECT min(id) FROM inference_requests').pluck();
  const tsOf = db.prepare<[number], number>('SELECT ts_ms FROM inference_requests WHERE id = ?').pluck();
  const gapsIn = db.prepare<[number, number, number], GapRow>(GAPS_SQL);

  /** The newest `need` ids matching filters without text: one walk of the covering index, no row read. */
  function filteredIds(where: string, params: Record<string, unknown>, need: number): number[] {
    return statement(`SELECT r.id FROM inference_requests r INDEXED BY inference_scan WHERE ${where} ORDER BY r.ts_ms DESC, r.id DESC LIMIT @need`)
      .pluck()
      .all({ ...params, need }) as number[];
  }

  /**
   * The newest `need` ids matching filters and text. A rare text (≤ FEW_MATCHES records) is looked up row by row.
   * A common one is intersected slice by slice, newest first: a slice is the next records the covering index yields
   * for the filters, and the FTS subquery is limited to the rowid range of that slice, so it reads only the text
   * matches of the slice (records pulled late, with new ids for old times, only widen the range). A slice is sized
   * from the text's density, so most searches need one or two.
   */
  function textIds(where: string, params: Record<string, unknown>, fts: string, need: number): number[] {
    const sample = ftsSample.all({ fts, n: FEW_MATCHES + 1 });
    if (sample.length <= FEW_MATCHES) {
      return statement(
        `SELECT r.id FROM json_each(@ids) m CROSS JOIN inference_requests r ON r.id = m.value WHERE ${where}
         ORDER BY r.ts_ms DESC, r.id DESC LIMIT @need`,
      )
        .pluck()
        .all({ ...params, ids: JSON.stringify(sample), need }) as number[];
    }
    // Each slice narrows the one ts_ms range of `where` (two bounds on it would let SQLite seek by the wider one).
    const sliceIds = statement(
      `SELECT r.id FROM inference_requests r INDEXED BY inference_scan WHERE ${where} ORDER BY r.ts_ms DESC, r.id DESC LIMIT @size`,
    ).pluck();
    const tiedIds = statement(`SELECT r.id FROM inference_requests r INDEXED BY inference_scan WHERE ${where} ORDER BY r.ts_ms DESC, r.id DESC`).pluck();
    // better-sqlite3 binds a JS number as a REAL, and FTS5 narrows its doclists only by an INTEGER rowid bound:
    // without the CASTs the subquery reads every match of the text (tens of ms for a common word at 1M).
    const withText = statement(
      `SELECT value FROM json_each(@ids) WHERE value IN (SELECT rowid FROM inference_fts WHERE inference_fts MATCH @fts
         AND rowid BETWEEN CAST(@lo AS INTEGER) AND CAST(@hi AS INTEGER))`,
    ).pluck();

    // Density of the text among all records, from the oldest ids the sample covered.
    const spanned = sample[sample.length - 1] - (firstId.get() ?? 0) + 1;
    let density = Math.min(1, sample.length / Math.max(spanned, 1));
    const found: number[] = [];
    let untilTs = params.toMs as number;
    while (found.length < need) {
      const size = Math.round(Math.min(SLICE_MAX, Math.max(SLICE_MIN, ((need - found.length) / density) * 1.25)));
      let ids = sliceIds.all({ ...params, toMs: untilTs, size }) as number[];
      if (ids.length === 0) break;
      const full = ids.length === size;
      const endTs = tsOf.get(ids[ids.length - 1]) as number;
      if (full) {
        // Slices are whole milliseconds: every record tied at a full slice's end joins it (they end the slice, in order).
        const tied = tiedIds.all({ ...params, fromMs: endTs, toMs: endTs }) as number[];
        const tiedSet = new Set(tied);
        let keep = ids.length;
        while (keep > 0 && tiedSet.has(ids[keep - 1])) keep--;
        ids = [...ids.slice(0, keep), ...tied];
      }
      let lo = Infinity;
      let hi = -Infinity;
      for (const id of ids) (lo = Math.min(lo, id)), (hi = Math.max(hi, id));
      const hits = new Set(withText.all({ ids: JSON.stringify(ids), fts, lo, hi }) as number[]);
      for (const id of ids) if (hits.has(id) && found.length < need) found.push(id);
      if (!full) break;
      // The next slice is sized from what this one found; one without a match at least doubles it.
      density = hits.size > 0 ? hits.size / ids.length : density / 2;
      untilTs = endTs - 1;
    }
    return found;
  }

  function recordsById(ids: number[]): InferenceRecord[] {
    if (ids.length === 0) return [];
    const rows = statement(`SELECT ${COLUMNS} FROM inference_requests r WHERE r.id IN (SELECT value FROM json_each(@ids))`).all({ ids: JSON.stringify(ids) }) as Row[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      return row ? [toRecord(row)] : [];
    });
  }

  function gaps(fromMs: number, toMs: number, limit = 50): IngestGap[] {
    return gapsIn.all(fromMs, toMs, limit).map(toGap);
  }

  /** One page, newest first, with the number of matches counted up to the page's end or TOTAL_CAP, whichever is further. */
  function search(query: ParsedInferenceQuery, nowMs: number): InferenceSearchResult {
    const started = performance.now();
    const { sql, params, fts } = filterClause(query, { fromMs: 0, toMs: nowMs + HOUR });
    const need = Math.max(query.offset + query.limit, TOTAL_CAP) + 1;
    // One read transaction: every statement of the search sees the same snapshot, whatever ingest commits meanwhile.
    return db.transaction(() => {
      const ids = fts ? textIds(sql, params, fts, need) : filteredIds(sql, params, need);
      const records = recordsById(ids.slice(query.offset, query.offset + query.limit));
      return {
        records,
        more: ids.length > query.offset + query.limit,
        total: { count: Math.min(ids.length, need - 1), capped: ids.length === need },
        tookMs: Math.round((performance.now() - started) * 10) / 10,
        gaps: gaps(params.fromMs as number, params.toMs as number),
      };
    })();
  }

  /**
   * Requests, errors (5xx or a model error) and nearest-rank latency percentiles per model version and time bucket.
   * A request refused before routing (no key, unknown alias) reached no version: it is in no series (the table lists it).
   */
  function stats(input: { from?: string; to?: string; model?: string; buckets: number }, nowMs: number): InferenceStats {
    const { fromMs, toMs } = {
      fromMs: input.from ? Date.parse(input.from) : nowMs - HOUR,
      toMs: input.to ? Date.parse(input.to) : nowMs,
    };
    if (!(toMs > fromMs)) throw new BerthError('ValidationError', 'The chart range must end after it starts');
    const bucketMs = Math.max(1000, Math.ceil((toMs - fromMs) / input.buckets / 1000) * 1000);
    const start = Math.floor(fromMs / bucketMs) * bucketMs;
    const rows = statement(
      `WITH x AS (
         SELECT model, version, CAST((ts_ms - @start) / @bucket AS INTEGER) AS b, latency_ms AS l, status, error,
           ROW_NUMBER() OVER (PARTITION BY model, version, CAST((ts_ms - @start) / @bucket AS INTEGER) ORDER BY latency_ms) AS rn,
           COUNT(latency_ms) OVER (PARTITION BY model, version, CAST((ts_ms - @start) / @bucket AS INTEGER)) AS n
         FROM inference_requests
         WHERE ts_ms >= @start AND ts_ms < @to AND model IS NOT NULL AND version IS NOT NULL ${input.model ? 'AND model = @model' : ''}
       )
       SELECT model, version, b, count(*) AS requests,
         sum(CASE WHEN status >= 500 OR (error IS NOT NULL AND (status IS NULL OR status >= 400)) THEN 1 ELSE 0 END) AS errors,
         min(CASE WHEN l IS NOT NULL AND rn >= 0.50 * n THEN l END) AS p50,
         min(CASE WHEN l IS NOT NULL AND rn >= 0.95 * n THEN l END) AS p95,
         min(CASE WHEN l IS NOT NULL AND rn >= 0.99 * n THEN l END) AS p99
       FROM x GROUP BY model, version, b ORDER BY model, version, b`,
    ).all({ start, bucket: bucketMs, to: toMs, ...(input.model ? { model: input.model } : {}) }) as Array<{
      model: string;
      version: string;
      b: number;
      requests: number;
      errors: number;
      p50: number | null;
      p95: number | null;
      p99: number | null;
    }>;
    const series = new Map<string, { model: string; version: string; points: StatsPoint[] }>();
    for (const row of rows) {
      const key = `${row.model}\u0000${row.version}`;
      const entry = series.get(key) ?? { model: row.model, version: row.version, points: [] };
      entry.points.push({ t: start + row.b * bucketMs, requests: row.requests, errors: row.errors, p50: row.p50, p95: row.p95, p99: row.p99 });
      series.set(key, entry);
    }
    return { from: start, to: toMs, bucketMs, series: [...series.values()].slice(0, 24) };
  }

  /** One export page, oldest first after `after` (keyset, so no statement stays open between pages). */
  function exportPage(filters: Filters, after: ExportCursor, nowMs: number): InferenceRecord[] {
    const { sql, params, fts } = filterClause(filters, { fromMs: nowMs - 24 * HOUR, toMs: nowMs + 60_000 });
    const text = fts ? ' AND r.id IN (SELECT rowid FROM inference_fts WHERE inference_fts MATCH @fts)' : '';
    const rows = statement(
      `SELECT ${COLUMNS} FROM inference_requests r WHERE ${sql}${text} AND (r.ts_ms > @afterTs OR (r.ts_ms = @afterTs AND r.id > @afterId))
       ORDER BY r.ts_ms, r.id LIMIT ${EXPORT_PAGE}`,
    ).all({ ...params, ...(fts ? { fts } : {}), ...after }) as Row[];
    return rows.map(toRecord);
  }

  return { search, stats, exportPage, gaps };
}
export type InferenceQueries = ReturnType<typeof createInferenceQueries>;
