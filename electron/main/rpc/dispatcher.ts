import { z } from 'zod';
import {
  calls,
  isCallName,
  isStreamName,
  streams,
  type CallName,
  type CallOutput,
  type CallParsedInput,
  type StreamEvent,
  type StreamName,
  type StreamParsedInput,
} from '../../../shared/contract';
import { BerthError } from '../../../shared/errors';
import type { CallResult } from '../../../shared/transport';

export type CallHandlers = { [N in CallName]: (input: CallParsedInput<N>) => Promise<CallOutput<N>> | CallOutput<N> };

/** A stream producer: emits events until it returns or `signal` aborts (the subscriber went away). */
export type StreamHandlers = {
  [N in StreamName]: (input: StreamParsedInput<N>, emit: (event: StreamEvent<N>) => void, signal: AbortSignal) => Promise<void>;
};

export interface Dispatcher {
  call(name: unknown, input: unknown): Promise<CallResult>;
  /**
   * Starts a stream; `onEnd` is called once, with an error if the producer failed. Returns a cancel function,
   * whose promise settles once the producer has stopped (its cleanup done); `onEnd` is not called after it.
   */
  subscribe(
    name: unknown,
    input: unknown,
    onEvent: (event: unknown) => void,
    onEnd: (error?: BerthError) => void,
  ): () => Promise<void>;
}

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) throw new BerthError('ValidationError', `Invalid input for ${what}: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** The boundary: validates names and inputs against the contract and turns every failure into a serialized BerthError. */
export function createDispatcher(callHandlers: CallHandlers, streamHandlers: StreamHandlers): Dispatcher {
  return {
    async call(name, input) {
      try {
        if (!isCallName(name)) throw new BerthError('NotFound', `Unknown call "${String(name)}"`);
        const parsed = parse(calls[name].input, input, name);
        const handler = callHandlers[name] as (input: unknown) => Promise<unknown>;
        return { ok: true, value: await handler(parsed) };
      } catch (err) {
        return { ok: false, error: BerthError.from(err).toJSON() };
      }
    },

    subscribe(name, input, onEvent, onEnd) {
      const controller = new AbortController();
      let ended = false;
      let stopped = Promise.resolve();
      const end = (error?: BerthError) => {
        if (ended) return;
        ended = true;
        onEnd(error);
      };
      try {
        if (!isStreamName(name)) throw new BerthError('NotFound', `Unknown stream "${String(name)}"`);
        const parsed = parse(streams[name].input, input, name);
        const producer = streamHandlers[name] as (i: unknown, e: (ev: unknown) => void, s: AbortSignal) => Promise<void>;
        stopped = producer(parsed, (event) => !controller.signal.aborted && onEvent(event), controller.signal).then(
          () => end(),
          (err) => end(controller.signal.aborted ? undefined : BerthError.from(err)),
        );
      } catch (err) {
        queueMicrotask(() => end(BerthError.from(err)));
      }
      return () => {
        controller.abort();
        ended = true;
        return stopped;
      };
    },
  };
}
