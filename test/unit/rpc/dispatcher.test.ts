import { describe, expect, it, vi } from 'vitest';
import { createDispatcher, type CallHandlers, type StreamHandlers } from '../../../electron/main/rpc/dispatcher';
import { BerthError } from '../../../shared/errors';

function handlers(overrides: Partial<CallHandlers> = {}, streams: Partial<StreamHandlers> = {}) {
  const calls = {
    'projects.open': vi.fn(async ({ path }: { path: string }) => ({ id: 1, path, name: 'p', kind: 'folder', openedAt: 'now' })),
    ...overrides,
  } as unknown as CallHandlers;
  return createDispatcher(calls, streams as StreamHandlers);
}

describe('dispatcher: the contract boundary', () => {
  it('passes validated input to the handler and returns its value', async () => {
    const result = await handlers().call('projects.open', { path: '/tmp/x' });
    expect(result).toEqual({ ok: true, value: expect.objectContaining({ path: '/tmp/x' }) });
  });

  it('rejects input that does not match the schema with a ValidationError naming the field', async () => {
    const result = await handlers().call('projects.open', { path: '' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.kind).toBe('ValidationError');
    expect(result.error.message).toContain('Give the path of a project folder');
  });

  it('rejects unknown fields (strict schemas) and unknown calls', async () => {
    const extra = await handlers().call('projects.open', { path: '/x', evil: true });
    expect(extra).toMatchObject({ ok: false, error: { kind: 'ValidationError' } });
    const unknown = await handlers().call('projects.delete', {});
    expect(unknown).toMatchObject({ ok: false, error: { kind: 'NotFound', message: 'Unknown call "projects.delete"' } });
  });

  it('keeps the kind and message of a BerthError thrown by a service', async () => {
    const failing = handlers({
      'engine.info': async () => {
        throw new BerthError('DockerUnavailable', 'Docker engine not reachable at /x: is dockerd running?');
      },
    });
    expect(await failing.call('engine.info', {})).toEqual({
      ok: false,
      error: { kind: 'DockerUnavailable', message: 'Docker engine not reachable at /x: is dockerd running?' },
    });
  });

  it('turns any other exception into an Internal error with its message', async () => {
    const failing = handlers({ 'engine.info': async () => Promise.reject(new TypeError('boom')) });
    expect(await failing.call('engine.info', {})).toEqual({ ok: false, error: { kind: 'Internal', message: 'boom' } });
  });

  it('streams events, applies input defaults, and aborts the producer on cancel', async () => {
    let seenSignal: AbortSignal | undefined;
    let seenInput: unknown;
    const dispatcher = handlers({}, {
      'status.watch': async (input, emit, signal) => {
        seenInput = input;
        seenSignal = signal;
        emit({ engine: { reachable: false, message: 'x' }, servers: { up: 0, total: 0 }, checkedAt: 't' });
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      },
    });
    const events: unknown[] = [];
    const onEnd = vi.fn();
    const cancel = dispatcher.subscribe('status.watch', {}, (e) => events.push(e), onEnd);
    await vi.waitFor(() => expect(events).toHaveLength(1));
    expect(seenInput).toEqual({ intervalMs: 3000 });
    cancel();
    expect(seenSignal?.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(onEnd).not.toHaveBeenCalled();
  });

  it("cancel's promise settles only once the producer has finished its cleanup", async () => {
    let cleanedUp = false;
    const dispatcher = handlers({}, {
      'status.watch': async (_input, _emit, signal) => {
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        await new Promise((resolve) => setTimeout(resolve, 20)); // e.g. removing a container
        cleanedUp = true;
        throw new BerthError('Cancelled', 'stopped');
      },
    });
    const onEnd = vi.fn();
    const cancel = dispatcher.subscribe('status.watch', {}, () => {}, onEnd);
    const stopped = cancel();
    expect(cleanedUp).toBe(false);
    await stopped;
    expect(cleanedUp).toBe(true);
    expect(onEnd).not.toHaveBeenCalled();
  });

  it('ends a stream with the error when the producer fails or the input is invalid', async () => {
    const dispatcher = handlers({}, {
      'status.watch': async () => {
        throw new BerthError('DockerUnavailable', 'down');
      },
    });
    const failed = await new Promise<BerthError | undefined>((resolve) => dispatcher.subscribe('status.watch', {}, () => {}, resolve));
    expect(failed?.kind).toBe('DockerUnavailable');
    const invalid = await new Promise<BerthError | undefined>((resolve) =>
      dispatcher.subscribe('status.watch', { intervalMs: 1 }, () => {}, resolve),
    );
    expect(invalid?.kind).toBe('ValidationError');
  });
});
