import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDispatcher, type CallHandlers, type StreamHandlers } from '../../../electron/main/rpc/dispatcher';
import { createRpcHost } from '../../../electron/main/rpc/sessions';
import type { StreamMessage } from '../../../shared/transport';

/** A deploy that emits `count` events, then ends; counts its starts. */
function host(count: number, limits = { keepMs: 1000, maxEvents: 3, maxAnswers: 2, maxAnswerChars: 1000 }) {
  let starts = 0;
  let calls = 0;
  const streams = {
    'deploy.run': async (_input: unknown, emit: (e: unknown) => void) => {
      starts += 1;
      for (let i = 1; i <= count; i++) emit({ type: 'log', message: `event ${i}` });
    },
  } as unknown as StreamHandlers;
  const handlers = {
    'deploy.models': async () => [`answer ${++calls}`],
    'inference.export': async () => ({ text: 'x'.repeat(2000), run: ++calls }),
  } as unknown as CallHandlers;
  return { rpc: createRpcHost(createDispatcher(handlers, streams), limits), starts: () => starts, calls: () => calls };
}

const received = () => {
  const messages: StreamMessage[] = [];
  return { messages, send: (m: StreamMessage) => void messages.push(m) };
};
const deployInput = { buildId: 1, group: 'prod' };

afterEach(() => vi.useRealTimers());

describe('operations outlive their connection', () => {
  it('re-attaches to an ended operation: the last events kept (bounded), then its end', async () => {
    const { rpc, starts } = host(5);
    const first = received();
    const a = rpc.openSession(first.send);
    a.subscribe('op-1', 'deploy.run', deployInput);
    a.close();
    // It ends while nobody listens.
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(first.messages.at(-1)?.type).toBe('event');

    const again = received();
    rpc.openSession(again.send).subscribe('op-1', 'deploy.run', deployInput, { after: 0, resume: true });
    expect(again.messages.map((m) => (m.type === 'event' ? m.seq : 'end'))).toEqual([3, 4, 5, 'end']);
    expect(starts()).toBe(1);
  });

  it('never starts again an operation it no longer knows that the client says it sent before', async () => {
    const { rpc, starts } = host(1);
    const page = received();
    rpc.openSession(page.send).subscribe('op-gone', 'deploy.run', deployInput, { after: 2, resume: true });
    expect(starts()).toBe(0);
    expect(page.messages).toEqual([{ id: 'op-gone', type: 'end', error: expect.objectContaining({ kind: 'Conflict' }) }]);
  });

  it('cancels the operations of a connection closed for good (the app window), and only then', async () => {
    let aborted = 0;
    const streams = {
      'deploy.run': (_input: unknown, _emit: unknown, signal: AbortSignal) =>
        new Promise<void>((done) => signal.addEventListener('abort', () => (aborted++, done()))),
    } as unknown as StreamHandlers;
    const rpc = createRpcHost(createDispatcher({} as CallHandlers, streams));
    const reload = rpc.openSession(() => {});
    reload.subscribe('op-a', 'deploy.run', deployInput);
    reload.close();
    const window = rpc.openSession(() => {});
    window.subscribe('op-b', 'deploy.run', deployInput);
    window.close({ cancelOperations: true });
    expect(aborted).toBe(1);
  });

  it('forgets an ended operation after keepMs', async () => {
    vi.useFakeTimers();
    const { rpc } = host(1);
    const page = received();
    rpc.openSession(page.send).subscribe('op-2', 'deploy.run', deployInput);
    await vi.advanceTimersByTimeAsync(0);
    expect(page.messages.at(-1)?.type).toBe('end');
    await vi.advanceTimersByTimeAsync(1001);
    const late = received();
    rpc.openSession(late.send).subscribe('op-2', 'deploy.run', deployInput, { resume: true });
    expect(late.messages).toEqual([expect.objectContaining({ type: 'end', error: expect.objectContaining({ kind: 'Conflict' }) })]);
  });
});

describe("calls' answers by id", () => {
  it('answers a resend from memory, and keeps only the newest answers', async () => {
    const { rpc, calls } = host(0);
    const first = await rpc.call('c1', 'deploy.models', {});
    expect(await rpc.call('c1', 'deploy.models', {})).toEqual(first);
    expect(calls()).toBe(1);
    await rpc.call('c2', 'deploy.models', {});
    await rpc.call('c3', 'deploy.models', {});
    // Two kept: c1 was the oldest, so a resend of it runs again.
    expect(await rpc.call('c1', 'deploy.models', {})).toEqual({ ok: true, value: ['answer 4'] });
    expect(await rpc.call('c1', 'servers.list', {})).toMatchObject({ ok: false, error: { kind: 'ValidationError' } });
    expect(await rpc.call(undefined, 'deploy.models', {})).toEqual({ ok: true, value: ['answer 5'] });
  });

  it('does not keep an answer larger than the bound: a resend of it runs again', async () => {
    const { rpc, calls } = host(0);
    await rpc.call('big', 'inference.export', { format: 'csv' });
    await rpc.call('big', 'inference.export', { format: 'csv' });
    expect(calls()).toBe(2);
  });
});
