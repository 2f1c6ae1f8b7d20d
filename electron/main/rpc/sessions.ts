import { isOperation } from '../../../shared/contract';
import { BerthError } from '../../../shared/errors';
import type { CallResult, StreamMessage } from '../../../shared/transport';
import type { Dispatcher } from './dispatcher';

/**
 * What the transports (Electron IPC, the web socket) share above the dispatcher: ids the client chooses make every
 * request safe to send again. A call's answer is kept by its id, so a call resent after a dropped connection gets the
 * same answer (an API key's secret, shown once, included) without running twice. An operation (a contract stream
 * marked `operation`: deploy, build, rollback) lives here, not in a connection: a dropped connection leaves it running
 * with its events kept, and the client re-attaches by id; only an explicit cancel stops it. Subscriptions (feeds) stop
 * with their connection and the client subscribes again. Everything here is in memory and bounded.
 */

export interface SessionLimits {
  /** How long an ended operation (its last events and its end) stays attachable, and a call's answer is kept. */
  keepMs: number;
  /** Events kept per operation for a client that re-attaches; older ones are dropped first. */
  maxEvents: number;
  /** Answers kept at most, and their size (JSON characters); the oldest go first. A larger answer is not kept. */
  maxAnswers: number;
  maxAnswerChars: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { keepMs: 10 * 60_000, maxEvents: 2000, maxAnswers: 500, maxAnswerChars: 16 * 1024 * 1024 };

type Send = (message: StreamMessage) => void;

export interface SubscribeOptions {
  /** The number of the last event of this stream the client has; only later ones are sent again. */
  after?: number;
  /** The client sent this stream before, on a connection since lost: an operation it names is never started again. */
  resume?: boolean;
}

/** One client connection (a socket, a page load). */
export interface Session {
  /** Starts a stream under the client's id; an operation already running (or recently ended) under it is attached to instead. */
  subscribe(id: string, name: unknown, input: unknown, options?: SubscribeOptions): void;
  /** The client stops the stream: cancels its producer, an operation's included; settles once it has stopped. */
  unsubscribe(id: string): Promise<void>;
  /**
   * The connection is gone: its subscriptions stop, its operations keep running for a client to re-attach; or, with
   * `cancelOperations` (the app's window closed: nobody will come back), are cancelled too.
   */
  close(options?: { cancelOperations?: boolean }): void;
}

interface Operation {
  cancel: () => Promise<void>;
  /** The last events, numbered from 1; `seq` is the number of the latest. */
  events: { seq: number; event: unknown }[];
  seq: number;
  end?: StreamMessage;
  /** The session that listens now, if any. */
  listener?: Send;
  expiry?: NodeJS.Timeout;
}

interface Answer {
  name: unknown;
  result: Promise<CallResult>;
  at: number;
  /** Its JSON length once it has settled. */
  chars: number;
}

export interface RpcHost {
  /** A call; with an id, answered once per id (a resend gets the first answer), without one, run as is. */
  call(id: string | undefined, name: unknown, input: unknown): Promise<CallResult>;
  openSession(send: Send): Session;
}

export function createRpcHost(dispatcher: Dispatcher, limits: SessionLimits = DEFAULT_SESSION_LIMITS, now: () => number = Date.now): RpcHost {
  const operations = new Map<string, Operation>();
  const answers = new Map<string, Answer>();
  let answerChars = 0;

  function call(id: string | undefined, name: unknown, input: unknown): Promise<CallResult> {
    if (id === undefined) return dispatcher.call(name, input);
    forgetOldAnswers();
    const known = answers.get(id);
    if (known && known.name !== name) {
      return Promise.resolve({ ok: false, error: new BerthError('ValidationError', `Call id ${id} was already used for ${String(known.name)}`).toJSON() });
    }
    if (known) return known.result;
    const answer: Answer = { name, result: dispatcher.call(name, input), at: now(), chars: 0 };
    answers.set(id, answer);
    void answer.result.then((result) => {
      if (answers.get(id) !== answer) return;
      answer.chars = JSON.stringify(result).length;
      answerChars += answer.chars;
      // A large answer (an export, a search) is only read: a resend may run it again.
      if (answer.chars > limits.maxAnswerChars) forget(id);
      forgetOldAnswers();
    });
    return answer.result;
  }

  function forget(id: string): void {
    answerChars -= answers.get(id)?.chars ?? 0;
    answers.delete(id);
  }

  /** Answers older than keepMs, and beyond the bounds the oldest, are dropped (a Map iterates oldest first). */
  function forgetOldAnswers(): void {
    for (const [id, answer] of answers) {
      if (answers.size <= limits.maxAnswers && answerChars <= limits.maxAnswerChars && now() - answer.at < limits.keepMs) break;
      forget(id);
    }
  }

  function startOperation(id: string, name: unknown, input: unknown, send: Send): void {
    const op: Operation = { cancel: async () => {}, events: [], seq: 0, listener: send };
    operations.set(id, op);
    op.cancel = dispatcher.subscribe(
      name,
      input,
      (event) => {
        op.seq += 1;
        op.events.push({ seq: op.seq, event });
        if (op.events.length > limits.maxEvents) op.events.shift();
        op.listener?.({ id, type: 'event', seq: op.seq, event });
      },
      (error) => {
        op.end = { id, type: 'end', ...(error ? { error: error.toJSON() } : {}) };
        op.listener?.(op.end);
        // Kept a while after its end: the end itself may have gone to a connection that was dropping.
        op.expiry = setTimeout(() => operations.delete(id), limits.keepMs);
        op.expiry.unref?.();
      },
    );
  }

  function attach(id: string, op: Operation, send: Send, after: number): void {
    op.listener = send;
    for (const { seq, event } of op.events) if (seq > after) send({ id, type: 'event', seq, event });
    if (op.end) send(op.end);
  }

  function openSession(send: Send): Session {
    const subscriptions = new Map<string, () => Promise<void>>();
    const attached = new Set<string>();

    return {
      subscribe(id, name, input, { after = 0, resume = false } = {}) {
        const op = operations.get(id);
        if (op) {
          attached.add(id);
          attach(id, op, send, after);
        } else if (isOperation(name) && resume) {
          // Sent before, unknown now: it ended long ago, or this Berth restarted. Starting it again could deploy twice.
          send({
            id,
            type: 'end',
            error: new BerthError('Conflict', 'Berth lost track of this operation while the connection was down; see its outcome on its page, and start it again only if it did not run').toJSON(),
          });
        } else if (isOperation(name)) {
          attached.add(id);
          startOperation(id, name, input, send);
        } else if (!subscriptions.has(id)) {
          subscriptions.set(
            id,
            dispatcher.subscribe(
              name,
              input,
              (event) => send({ id, type: 'event', event }),
              (error) => {
                subscriptions.delete(id);
                send({ id, type: 'end', ...(error ? { error: error.toJSON() } : {}) });
              },
            ),
          );
        }
      },

      async unsubscribe(id) {
        const subscription = subscriptions.get(id);
        subscriptions.delete(id);
        const op = operations.get(id);
        if (op) {
          operations.delete(id);
          clearTimeout(op.expiry);
        }
        attached.delete(id);
        await Promise.all([subscription?.(), op?.cancel()]);
      },

      close({ cancelOperations = false } = {}) {
        for (const cancel of subscriptions.values()) void cancel();
        subscriptions.clear();
        for (const id of attached) {
          const op = operations.get(id);
          // Another connection may have re-attached already (the new socket can open before the old one is seen closed).
          if (op?.listener !== send) continue;
          op.listener = undefined;
          if (cancelOperations) {
            operations.delete(id);
            clearTimeout(op.expiry);
            void op.cancel();
          }
        }
        attached.clear();
      },
    };
  }

  return { call, openSession };
}
