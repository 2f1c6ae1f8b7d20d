import type {
  CallInput,
  CallName,
  CallOutput,
  StreamEvent,
  StreamInput,
  StreamName,
} from '../../../shared/contract';
import { BerthError } from '../../../shared/errors';
import type { BerthBridge, BerthTransport } from '../../../shared/transport';
import { createWebTransport } from './web-transport';

declare global {
  interface Window {
    berth?: BerthBridge;
  }
}

/** Electron's preload bridge when present, else the web transport: the rest of the UI cannot tell them apart. */
const transport: BerthTransport = window.berth ?? createWebTransport();

export const isElectron = window.berth !== undefined;

export async function call<N extends CallName>(name: N, input: CallInput<N>): Promise<CallOutput<N>> {
  const result = await transport.call(name, input);
  if (!result.ok) throw BerthError.from(result.error);
  return result.value as CallOutput<N>;
}

/**
 * Starts a stream; returns the function that stops it (which the server side honours by cancelling the producer).
 * A dropped connection does neither: the transport re-attaches an operation (deploy, build, rollback) and feeds the
 * events it missed, and subscribes to a feed again.
 */
export function subscribe<N extends StreamName>(
  name: N,
  input: StreamInput<N>,
  onEvent: (event: StreamEvent<N>) => void,
  onEnd?: (error?: BerthError) => void,
): () => void {
  return transport.subscribe(name, input, (message) => {
    if (message.type === 'event') onEvent(message.event as StreamEvent<N>);
    else onEnd?.(message.error ? BerthError.from(message.error) : undefined);
  });
}

/** The filesystem path of a dropped file (Electron), or null where the browser hides it. */
export function pathForFile(file: File): string | null {
  return window.berth ? window.berth.pathForFile(file) || null : null;
}
