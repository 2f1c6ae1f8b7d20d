/** The transport layer's wire shapes; kept free of zod so the sandboxed preload stays tiny. */
import type { SerializedError } from './errors';

/** Channel names used by the Electron IPC transport. */
export const ipcChannels = {
  call: 'berth:call',
  subscribe: 'berth:subscribe',
  unsubscribe: 'berth:unsubscribe',
  event: 'berth:event',
} as const;

/**
 * Messages of the web transport's WebSocket, and the payload of IPC stream events. An operation's events are numbered
 * (`seq`, from 1), so a client re-attaching after a dropped connection asks for those after the last it has.
 */
export type StreamMessage =
  | { id: string; type: 'event'; event: unknown; seq?: number }
  | { id: string; type: 'end'; error?: SerializedError };

export type CallResult = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/** What the preload exposes as `window.berth`, and what the web transport implements. */
export interface BerthTransport {
  call(name: string, input: unknown): Promise<CallResult>;
  subscribe(name: string, input: unknown, onMessage: (message: StreamMessage) => void): () => void;
}

export interface BerthBridge extends BerthTransport {
  /** Electron only: the filesystem path of a dropped File. */
  pathForFile(file: File): string;
}
