/**
 * The inference search worker (a worker_threads entry; electron-vite builds it as out/main/search-worker.js): runs
 * the queries of search-queries.ts on its own read-only connection, one request at a time, so a search that reads
 * a million records never holds up the main thread. search-thread.ts starts it and owns the queue and the timeout.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BerthError } from '../../../../shared/errors';
import { openReadonlyDatabase } from '../store/database';
import { createInferenceQueries } from './search-queries';
import type { SearchReply, SearchRequest } from './search-thread';

const port = parentPort;
if (!port) throw new Error('search-worker.ts runs in a worker thread (search-thread.ts starts it)');

const db = openReadonlyDatabase((workerData as { file: string }).file);
// A search may walk the whole covering index (≈35 MiB at 1M records): kept in this connection's cache, a second walk
// reads no page again (SQLite's default 2 MiB would).
db.pragma('cache_size = -65536');
const queries = createInferenceQueries(db);
port.on('message', (request: SearchRequest) => {
  let reply: SearchReply;
  try {
    const method = queries[request.method] as (...args: unknown[]) => unknown;
    reply = { id: request.id, ok: true, value: method(...request.args) };
  } catch (err) {
    reply = { id: request.id, ok: false, error: BerthError.from(err).toJSON() };
  }
  port.postMessage(reply);
});
