import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createBatcher } from '../../../electron/main/services/logs/batcher';

function collect(options: Parameters<typeof createBatcher>[1]) {
  const batches: Array<{ items: number[]; skipped: number; at: number }> = [];
  const started = performance.now();
  const batcher = createBatcher<number>((items, skipped) => batches.push({ items, skipped, at: performance.now() - started }), options);
  return { batcher, batches };
}

describe('log line batcher', () => {
  it('coalesces a trickle into one batch per interval', async () => {
    const { batcher, batches } = collect({ intervalMs: 50 });
    for (let i = 0; i < 10; i++) batcher.push(i);
    expect(batches).toHaveLength(0);
    await sleep(80);
    expect(batches).toEqual([{ items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], skipped: 0, at: expect.any(Number) }]);
    batcher.close();
  });

  it('sends a full batch at once without waiting for the interval', async () => {
    const { batcher, batches } = collect({ intervalMs: 1000, maxBatch: 100 });
    for (let i = 0; i < 250; i++) batcher.push(i);
    await sleep(20);
    expect(batches.map((b) => b.items.length)).toEqual([100, 100]);
    expect(batches[0].at).toBeLessThan(500);
    batcher.close();
  });

  it('bounds memory in a burst: drops the oldest lines and reports how many', async () => {
    const { batcher, batches } = collect({ intervalMs: 10, maxBatch: 100, maxQueued: 1000, maxLinesPerSecond: 2000 });
    for (let i = 0; i < 100_000; i++) batcher.push(i);
    expect(batcher.pending).toBeLessThanOrEqual(1000);
    await sleep(1500);
    const delivered = batches.flatMap((b) => b.items);
    const skipped = batches.reduce((n, b) => n + b.skipped, 0);
    expect(delivered.length + skipped + batcher.pending).toBe(100_000);
    expect(skipped).toBeGreaterThan(90_000);
    // What is delivered after the drop is the newest part of the burst, in order.
    expect(delivered.at(-1)).toBe(99_999);
    expect([...delivered].sort((a, b) => a - b)).toEqual(delivered);
    // Never faster than the rate limit (2000/s, plus the initial credit of two batches).
    expect(delivered.length).toBeLessThanOrEqual(200 + 2000 * 1.6);
    batcher.close();
  });

  it('stops sending after close', async () => {
    const { batcher, batches } = collect({ intervalMs: 10 });
    batcher.push(1);
    batcher.close();
    batcher.push(2);
    await sleep(40);
    expect(batches).toEqual([]);
  });
});
