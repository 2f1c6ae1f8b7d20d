import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { BerthError } from '../../../../shared/errors';
import type {
  InferenceExportResult,
  InferenceRecord,
  InferenceSearchResult,
  InferenceStats,
  ParsedInferenceQuery,
  StatsPoint,
} from '../../../../shared/logs';
import type { Db } from '../store/database';
import { toRecord, type InferenceStore } from './inference-store';

const HOUR = 3_600_000;

/** Turns what the user typed into a safe FTS5 expression: every word must occur; `word*` matches a prefix. */
export function ftsExpression(text: string | undefined): string | null {
  const words = text?.match(/[\p{L}\p{N}_]+\*?/gu) ?? [];
  if (words.length === 0) return null;
  return words.map((w) => (w.endsWith('*') ? `"${w.slice(0, -1)}"*` : `"${w}"`)).join(' ');
}

type Filters = Omit<ParsedInferenceQuery, 'limit' | 'offset'>;

/** WHERE clause and parameters shared by search, export and (without text) stats. */
function where(filters: Filters, defaults: { fromMs: number; toMs: number }) {
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
  const fts = ftsExpression(filters.text);
  if (fts) {
    clauses.push('r.id IN (SELECT rowid FROM inference_fts WHERE inference_fts MATCH @fts)');
    params.fts = fts;
  }
  return { sql: clauses.join(' AND '), params };
}

const COLUMNS = `r.id, r.server_name, r.request_id, r.ts_ms, r.model, r.version, r.alias, r.caller, r.method, r.path, r.status,
  r.latency_ms, r.replica_container, r.replica_latency_ms, r.input, r.output, r.error, r.gw_seq, r.replica_ts`;

const CSV_FIELDS: Array<keyof InferenceRecord> = [
  'ts', 'server', 'requestId', 'model', 'version', 'alias', 'caller', 'method', 'path', 'status', 'latencyMs', 'replica',
  'replicaLatencyMs', 'input', 'output', 'error', 'sources',
];

const csvCell = (value: unknown) => {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

const MAX_TEXT_EXPORT = 100_000;

/** Search, charts and export over the inference records. */
export function createInferenceSearch(store: InferenceStore, now: () => Date = () => new Date()) {
  const db: Db = store.db;
  const range = () => ({ fromMs: now().getTime() - 24 * HOUR, toMs: now().getTime() + 60_000 });

  function search(query: ParsedInferenceQuery): InferenceSearchResult {
    const started = performance.now();
    const { sql, params } = where(query, { fromMs: 0, toMs: now().getTime() + HOUR });
    const rows = db
      .prepare(`SELECT ${COLUMNS} FROM inference_requests r WHERE ${sql} ORDER BY r.ts_ms DESC, r.id DESC LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit: query.limit + 1, offset: query.offset }) as Parameters<typeof toRecord>[0][];
    const records = rows.slice(0, query.limit).map(toRecord);
    const gaps = store.gaps(params.fromMs as number, params.toMs as number);
    return { records, more: rows.length > query.limit, tookMs: Math.round((performance.now() - started) * 10) / 10, gaps };
  }

  /** Requests, errors (5xx or a model error) and nearest-rank latency percentiles per model version and time bucket. */
  function stats(input: { from?: string; to?: string; model?: string; buckets: number }): InferenceStats {
    const { fromMs, toMs } = {
      fromMs: input.from ? Date.parse(input.from) : now().getTime() - HOUR,
      toMs: input.to ? Date.parse(input.to) : now().getTime(),
    };
    if (!(toMs > fromMs)) throw new BerthError('ValidationError', 'The chart range must end after it starts');
    const bucketMs = Math.max(1000, Math.ceil((toMs - fromMs) / input.buckets / 1000) * 1000);
    const start = Math.floor(fromMs / bucketMs) * bucketMs;
    const rows = db
      .prepare(
        `WITH x AS (
           SELECT model, version, CAST((ts_ms - @start) / @bucket AS INTEGER) AS b, latency_ms AS l, status, error,
             ROW_NUMBER() OVER (PARTITION BY model, version, CAST((ts_ms - @start) / @bucket AS INTEGER) ORDER BY latency_ms) AS rn,
             COUNT(latency_ms) OVER (PARTITION BY model, version, CAST((ts_ms - @start) / @bucket AS INTEGER)) AS n
           FROM inference_requests
           WHERE ts_ms >= @start AND ts_ms < @to AND model IS NOT NULL ${input.model ? 'AND model = @model' : ''}
         )
         SELECT model, coalesce(version, '?') AS version, b, count(*) AS requests,
           sum(CASE WHEN status >= 500 OR (error IS NOT NULL AND (status IS NULL OR status >= 400)) THEN 1 ELSE 0 END) AS errors,
           min(CASE WHEN l IS NOT NULL AND rn >= 0.50 * n THEN l END) AS p50,
           min(CASE WHEN l IS NOT NULL AND rn >= 0.95 * n THEN l END) AS p95,
           min(CASE WHEN l IS NOT NULL AND rn >= 0.99 * n THEN l END) AS p99
         FROM x GROUP BY model, version, b ORDER BY model, version, b`,
      )
      .all({ start, bucket: bucketMs, to: toMs, ...(input.model ? { model: input.model } : {}) }) as Array<{
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

  /** Pages by (ts, id) so no statement stays open across an await (better-sqlite3 allows one running query). */
  function* rowsOf(filters: Filters): Generator<InferenceRecord> {
    const { sql, params } = where(filters, range());
    const statement = db.prepare(
      `SELECT ${COLUMNS} FROM inference_requests r WHERE ${sql} AND (r.ts_ms > @afterTs OR (r.ts_ms = @afterTs AND r.id > @afterId))
       ORDER BY r.ts_ms, r.id LIMIT 2000`,
    );
    let after = { afterTs: -1, afterId: 0 };
    for (;;) {
      const page = statement.all({ ...params, ...after }) as Parameters<typeof toRecord>[0][];
      for (const row of page) yield toRecord(row);
      if (page.length < 2000) return;
      const last = page[page.length - 1];
      after = { afterTs: last.ts_ms, afterId: last.id };
    }
  }

  const serialize = (format: 'csv' | 'jsonl', record: InferenceRecord) =>
    format === 'jsonl' ? `${JSON.stringify(record)}\n` : `${CSV_FIELDS.map((f) => csvCell(record[f])).join(',')}\r\n`;

  async function exportRecords(input: { query: Filters; format: 'csv' | 'jsonl'; path?: string }): Promise<InferenceExportResult> {
    const header = input.format === 'csv' ? `${CSV_FIELDS.join(',')}\r\n` : '';
    let rows = 0;
    if (!input.path) {
      let text = header;
      for (const record of rowsOf(input.query)) {
        if (++rows > MAX_TEXT_EXPORT) {
          throw new BerthError('ValidationError', `More than ${MAX_TEXT_EXPORT} records match: narrow the search or export to a file`);
        }
        text += serialize(input.format, record);
      }
      return { rows, path: null, text };
    }
    const out = createWriteStream(input.path, { flags: 'wx' });
    const opened = once(out, 'open').catch((err: NodeJS.ErrnoException) => {
      throw new BerthError('ValidationError', `Cannot write ${input.path}: ${err.code === 'EEXIST' ? 'the file exists already' : err.message}`);
    });
    await opened;
    try {
      if (header) out.write(header);
      for (const record of rowsOf(input.query)) {
        rows++;
        if (!out.write(serialize(input.format, record))) await once(out, 'drain');
      }
    } finally {
      out.end();
      await once(out, 'close');
    }
    return { rows, path: input.path, text: null };
  }

  return { search, stats, export: exportRecords };
}
export type InferenceSearch = ReturnType<typeof createInferenceSearch>;
