export interface BatcherOptions {
  /** Longest a line waits before it is sent. */
  intervalMs?: number;
  /** Lines per batch; a full batch is sent at once. */
  maxBatch?: number;
  /** Lines held while the subscriber is behind; beyond it the oldest are dropped and counted. */
  maxQueued?: number;
  /** What a viewer can render; lines beyond this rate queue up (and are dropped past maxQueued). */
  maxLinesPerSecond?: number;
}

/**
 * Coalesces a burst of lines into few events with bounded memory: sends every `intervalMs` or `maxBatch` lines,
 * never faster than `maxLinesPerSecond`, and drops the oldest lines past `maxQueued`, reporting how many were
 * skipped with the next batch.
 */
export function createBatcher<T>(emit: (items: T[], skipped: number) => void, options: BatcherOptions = {}) {
  const intervalMs = options.intervalMs ?? 50;
  const maxBatch = options.maxBatch ?? 500;
  const maxQueued = Math.max(maxBatch, options.maxQueued ?? 5000);
  const rate = options.maxLinesPerSecond ?? 20_000;
  // Token bucket: up to two batches of credit, refilled continuously at `rate`.
  const capacity = Math.max(maxBatch * 2, 1);
  let tokens = capacity;
  let refilledAt = performance.now();
  let queue: T[] = [];
  let head = 0;
  let skipped = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let closed = false;

  const queued = () => queue.length - head;

  function refill() {
    const now = performance.now();
    tokens = Math.min(capacity, tokens + ((now - refilledAt) * rate) / 1000);
    refilledAt = now;
  }

  function flush() {
    timer = undefined;
    immediate = undefined;
    if (closed) return;
    refill();
    const n = Math.min(queued(), maxBatch, Math.floor(tokens));
    if (n > 0 || skipped > 0) {
      const items = queue.slice(head, head + n);
      head += n;
      if (head > 4096 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      tokens -= n;
      const dropped = skipped;
      skipped = 0;
      emit(items, dropped);
    }
    if (queued() > 0) schedule(queued() >= maxBatch && tokens >= maxBatch);
  }

  function schedule(now: boolean) {
    if (closed) return;
    if (now) {
      if (immediate !== undefined) return;
      clearTimeout(timer);
      timer = undefined;
      immediate = setImmediate(flush);
      return;
    }
    if (timer === undefined && immediate === undefined) {
      const waitForTokens = tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / rate);
      timer = setTimeout(flush, Math.max(intervalMs, waitForTokens));
    }
  }

  return {
    push(item: T) {
      if (closed) return;
      queue.push(item);
      if (queued() > maxQueued) {
        head++;
        skipped++;
      }
      refill();
      schedule(queued() >= maxBatch && tokens >= maxBatch);
    },
    /** Sends what is queued now (rate limits still apply). */
    flush,
    get pending() {
      return queued();
    },
    close() {
      closed = true;
      clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      queue = [];
      head = 0;
    },
  };
}
export type Batcher<T> = ReturnType<typeof createBatcher<T>>;
