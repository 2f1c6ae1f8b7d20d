import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { defaultSettings, type Settings } from '../../../../shared/types';
import type { InferenceStore } from './inference-store';

const DAY = 86_400_000;

export interface RetentionPolicy {
  days: Settings['inferenceRetentionDays'];
  maxRows: Settings['inferenceMaxRows'];
}

export const defaultRetention = (): RetentionPolicy => ({ days: defaultSettings.inferenceRetentionDays, maxRows: defaultSettings.inferenceMaxRows });

export interface RetentionDeps {
  store: Pick<InferenceStore, 'deleteOlderThan' | 'rowsBeyond' | 'deleteOldest'>;
  /** Read at every pass, so a changed setting applies from the next one. */
  policy?: () => RetentionPolicy;
  now?: () => Date;
  /** Records deleted per transaction (≈40 µs each with their FTS rows at 1M): a batch holds the main thread ≈20 ms. */
  batch?: number;
  /** Batches per pass; a pass that stops there leaves the next one due at once. */
  maxBatches?: number;
  /** A pass after a pull runs at most this often (counting the records is not free at a million). */
  intervalMs?: number;
}

/**
 * The inference records' retention (settings inferenceRetentionDays and inferenceMaxRows), applied when the servers'
 * logs have been pulled: the oldest records go first, in bounded batches with the event loop free between them.
 */
export function createRetention(deps: RetentionDeps) {
  const policy = deps.policy ?? defaultRetention;
  const now = deps.now ?? (() => new Date());
  const batch = deps.batch ?? 500;
  const maxBatches = deps.maxBatches ?? 100;
  const intervalMs = deps.intervalMs ?? 60_000;
  let running: Promise<number> | null = null;
  let lastPass = -Infinity;
  let behind = false;

  /** Batches of the records past the age, then of those past the row count (counted once a pass), oldest first. */
  async function pass(): Promise<number> {
    const { days, maxRows } = policy();
    const olderThanMs = now().getTime() - days * DAY;
    let beyond: number | null = null;
    let deleted = 0;
    for (let i = 0; i < maxBatches; i++) {
      let n = deps.store.deleteOlderThan(olderThanMs, batch);
      if (n < batch) {
        beyond ??= deps.store.rowsBeyond(maxRows);
        const more = beyond > 0 ? deps.store.deleteOldest(Math.min(beyond, batch - n)) : 0;
        beyond -= more;
        n += more;
      }
      deleted += n;
      behind = n === batch;
      if (!behind) break;
      await yieldToEvents();
    }
    return deleted;
  }

  /** One pass (joining the one running); resolves with the records it deleted. */
  function run(): Promise<number> {
    if (!running) {
      lastPass = now().getTime();
      running = pass().finally(() => (running = null));
    }
    return running;
  }

  return {
    run,
    /** After a pull: a pass if one is due (the interval has passed, or the last pass left records to delete). */
    afterPull(): Promise<number> {
      if (running || behind || now().getTime() - lastPass >= intervalMs) return run();
      return Promise.resolve(0);
    },
  };
}
export type Retention = ReturnType<typeof createRetention>;
