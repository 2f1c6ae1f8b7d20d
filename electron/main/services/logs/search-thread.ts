/**
 * The main thread's side of the inference search worker (search-worker.ts): starts it on first use, sends it one
 * query at a time from a bounded queue, and stops a query that runs too long by ending the worker (SQLite cannot be
 * interrupted from another thread); the next query starts a fresh one.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BerthError, type SerializedError } from '../../../../shared/errors';
import type { InferenceQueries } from './search-queries';

type Methods = Pick<InferenceQueries, 'search' | 'stats' | 'exportPage'>;
export type SearchMethod = keyof Methods;
export type SearchRequest = { [M in SearchMethod]: { id: number; method: M; args: Parameters<Methods[M]> } }[SearchMethod];
export type SearchReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

export interface SearchThreadOptions {
  /** Longest one query may run; beyond it the query fails and the worker is restarted. */
  timeoutMs?: number;
  /** Queries waiting behind the running one; a query beyond them is refused at once. */
  maxQueued?: number;
}

interface Job {
  request: SearchRequest;
  resolve(value: unknown): void;
  reject(error: BerthError): void;
}

/**
 * Where the worker's code is. From the TypeScript sources (vitest, the bench, tsx) the worker loads search-worker.ts
 * through tsx too; from electron-vite's build it is out/main/search-worker.js, beside the entries (this module may
 * be bundled into out/main/chunks/).
 */
function workerSource(): { code: string; eval: boolean } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsx = createRequire(import.meta.url).resolve('tsx/cjs');
    const entry = join(dirname(here), 'search-worker.ts');
    return { code: `require(${JSON.stringify(tsx)}); require(${JSON.stringify(entry)});`, eval: true };
  }
  const built = [dirname(here), dirname(dirname(here))].map((dir) => join(dir, 'search-worker.js')).find((f) => existsSync(f));
  if (!built) throw new BerthError('Internal', `search-worker.js is missing beside ${here}: rebuild Berth (npm run build)`);
  return { code: built, eval: false };
}

/** Runs the queries of search-queries.ts in a worker on its own read-only connection to `file`. */
export function createSearchThread(file: string, options: SearchThreadOptions = {}) {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxQueued = options.maxQueued ?? 16;
  const queue: Job[] = [];
  let worker: Worker | null = null;
  let running: Job | null = null;
  let timer: NodeJS.Timeout | undefined;
  let nextId = 1;
  let closed = false;

  function start(): Worker {
    const source = workerSource();
    const started = new Worker(source.code, { eval: source.eval, workerData: { file } });
    // An idle worker never keeps Berth (or a CLI command) running; a query in flight holds its timer.
    started.unref();
    started.on('message', (reply: SearchReply) => {
      if (!running || reply.id !== running.request.id) return;
      const job = finish();
      if (reply.ok) job.resolve(reply.value);
      else job.reject(BerthError.from(reply.error));
      pump();
    });
    started.on('error', (err) => stopped(started, `failed: ${err.message}`));
    started.on('exit', (code) => stopped(started, `stopped (exit code ${code})`));
    return started;
  }

  /** The worker ended on its own (a crash, a failed start): its query fails, the next one starts another worker. */
  function stopped(which: Worker, how: string) {
    if (worker !== which) return;
    worker = null;
    if (running) finish().reject(new BerthError('Internal', `The inference search worker ${how}`));
    pump();
  }

  function finish(): Job {
    const job = running!;
    running = null;
    clearTimeout(timer);
    return job;
  }

  function pump() {
    if (closed || running || queue.length === 0) return;
    const job = queue.shift()!;
    running = job;
    try {
      worker ??= start();
    } catch (err) {
      finish().reject(BerthError.from(err));
      return pump();
    }
    timer = setTimeout(() => {
      const late = finish();
      const stuck = worker;
      worker = null;
      void stuck?.terminate();
      late.reject(new BerthError('ValidationError', `The search took longer than ${Math.round(timeoutMs / 1000)} s and was stopped: narrow it (a shorter time range, more filters)`));
      pump();
    }, timeoutMs);
    worker.postMessage(job.request);
  }

  function run<M extends SearchMethod>(method: M, ...args: Parameters<Methods[M]>): Promise<ReturnType<Methods[M]>> {
    if (closed) return Promise.reject(new BerthError('Cancelled', 'The inference store is closed'));
    if (queue.length >= maxQueued) {
      return Promise.reject(new BerthError('Conflict', `${queue.length} searches are waiting already: try again when they are done`));
    }
    return new Promise((resolve, reject) => {
      const request = { id: nextId++, method, args } as SearchRequest;
      queue.push({ request, resolve: resolve as (value: unknown) => void, reject });
      pump();
    });
  }

  return {
    run,
    /** Ends the worker; the running and waiting queries fail with Cancelled. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const cancelled = new BerthError('Cancelled', 'The inference store is closed');
      if (running) finish().reject(cancelled);
      for (const job of queue.splice(0)) job.reject(cancelled);
      const last = worker;
      worker = null;
      await last?.terminate();
    },
  };
}
export type SearchThread = ReturnType<typeof createSearchThread>;
