import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { BerthError } from '../../../../shared/errors';
import type {
  InferenceExportResult,
  InferenceRecord,
  InferenceSearchResult,
  InferenceStats,
  ParsedInferenceQuery,
} from '../../../../shared/logs';
import type { InferenceStore } from './inference-store';
import { createInferenceQueries, EXPORT_PAGE, type ExportCursor, type Filters, type InferenceQueries } from './search-queries';
import { createSearchThread, type SearchThreadOptions } from './search-thread';

export { ftsExpression } from './search-queries';

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

type StatsInput = Parameters<InferenceQueries['stats']>[0];

/** Where the queries run: a worker with its own connection to the store's file, or inline for an in-memory store (tests). */
function queryRunner(store: InferenceStore, options: SearchThreadOptions) {
  const closedError = () => new BerthError('Cancelled', 'The inference store is closed');
  if (store.db.memory) {
    // A worker cannot open another connection to an in-memory database.
    const queries = createInferenceQueries(store.db);
    let closed = false;
    const inline = async <T>(run: () => T) => {
      if (closed || !store.db.open) throw closedError();
      return run();
    };
    return {
      inWorker: false,
      search: (query: ParsedInferenceQuery, nowMs: number) => inline(() => queries.search(query, nowMs)),
      stats: (input: StatsInput, nowMs: number) => inline(() => queries.stats(input, nowMs)),
      exportPage: (filters: Filters, after: ExportCursor, nowMs: number) => inline(() => queries.exportPage(filters, after, nowMs)),
      close: async () => void (closed = true),
    };
  }
  const thread = createSearchThread(store.db.name, options);
  // The worker would still read the file after the store closed; a closed store answers nothing.
  const guard = <T>(run: () => Promise<T>) => (store.db.open ? run() : Promise.reject(closedError()));
  return {
    inWorker: true,
    search: (query: ParsedInferenceQuery, nowMs: number) => guard(() => thread.run('search', query, nowMs)),
    stats: (input: StatsInput, nowMs: number) => guard(() => thread.run('stats', input, nowMs)),
    exportPage: (filters: Filters, after: ExportCursor, nowMs: number) => guard(() => thread.run('exportPage', filters, after, nowMs)),
    close: () => thread.close(),
  };
}

/** Search, charts and export over the inference records, off the main thread (search-thread.ts). */
export function createInferenceSearch(store: InferenceStore, now: () => Date = () => new Date(), options: SearchThreadOptions = {}) {
  const queries = queryRunner(store, options);

  /** Pages by (ts, id) through the worker, so an export of any size holds no statement open. */
  async function* rowsOf(filters: Filters): AsyncGenerator<InferenceRecord> {
    const nowMs = now().getTime();
    let after: ExportCursor = { afterTs: -1, afterId: 0 };
    for (;;) {
      const page = await queries.exportPage(filters, after, nowMs);
      yield* page;
      if (page.length < EXPORT_PAGE) return;
      const last = page[page.length - 1];
      after = { afterTs: Date.parse(last.ts), afterId: last.id };
    }
  }

  const serialize = (format: 'csv' | 'jsonl', record: InferenceRecord) =>
    format === 'jsonl' ? `${JSON.stringify(record)}\n` : `${CSV_FIELDS.map((f) => csvCell(record[f])).join(',')}\r\n`;

  async function exportRecords(input: { query: Filters; format: 'csv' | 'jsonl'; path?: string }): Promise<InferenceExportResult> {
    const header = input.format === 'csv' ? `${CSV_FIELDS.join(',')}\r\n` : '';
    let rows = 0;
    if (!input.path) {
      let text = header;
      for await (const record of rowsOf(input.query)) {
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
      for await (const record of rowsOf(input.query)) {
        rows++;
        if (!out.write(serialize(input.format, record))) await once(out, 'drain');
      }
    } finally {
      out.end();
      await once(out, 'close');
    }
    return { rows, path: input.path, text: null };
  }

  return {
    search: (query: ParsedInferenceQuery): Promise<InferenceSearchResult> => queries.search(query, now().getTime()),
    /** Requests, errors (5xx or a model error) and nearest-rank latency percentiles per model version and time bucket. */
    stats: (input: StatsInput): Promise<InferenceStats> => queries.stats(input, now().getTime()),
    export: exportRecords,
    /** Whether the queries run in the worker (a file store) or inline (an in-memory one). */
    inWorker: queries.inWorker,
    /** Ends the worker: every later query fails with Cancelled. */
    close: () => queries.close(),
  };
}
export type InferenceSearch = ReturnType<typeof createInferenceSearch>;
