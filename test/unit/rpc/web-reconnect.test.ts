import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import { createDispatcher, type CallHandlers, type StreamHandlers } from '../../../electron/main/rpc/dispatcher';
import { startWebServer, type WebServer } from '../../../electron/main/web/server';
import { createWebTransport } from '../../../renderer/src/api/web-transport';
import type { CallResult, StreamMessage } from '../../../shared/transport';

/**
 * Web mode over a real WebSocket, with the renderer's own transport: the page's socket drops (a laptop sleeping, a
 * flaky proxy) while a deploy runs or a call's answer is on its way. Nothing the user started may be undone or run twice.
 */

/** The browser's WebSocket, played by ws's: every socket the transport opens is kept, so a test can cut one. */
const sockets: NodeWebSocket[] = [];
class CuttableSocket extends NodeWebSocket {
  constructor(url: string) {
    super(url);
    sockets.push(this);
    // A browser reports a refused connection through onclose; ws would also throw an unhandled 'error'.
    this.on('error', () => {});
  }
}

/** A deploy the test drives: it emits when told and ends when told, and records how often it started and stopped. */
function drivenOperation() {
  const runs: { emit: (event: unknown) => void; aborted: boolean; finish: () => void }[] = [];
  const handler = async (_input: unknown, emit: (event: unknown) => void, signal: AbortSignal) => {
    await new Promise<void>((finish) => {
      const run = { emit, aborted: false, finish };
      runs.push(run);
      signal.addEventListener('abort', () => {
        run.aborted = true;
        finish();
      });
    });
  };
  return { runs, handler };
}

const deploy = drivenOperation();
const watch = drivenOperation();
let keyRuns = 0;
let releaseKey: () => void = () => {};
const keyAnswered = () => new Promise<void>((resolve) => (releaseKey = resolve));
let keyGate = keyAnswered();

const calls = {
  'access.createKey': async () => {
    keyRuns += 1;
    const run = keyRuns;
    await keyGate;
    return { key: { id: `key_${run}` }, secret: `secret-${run}`, publish: {} };
  },
} as unknown as CallHandlers;
const streams = { 'deploy.run': deploy.handler, 'status.watch': watch.handler } as unknown as StreamHandlers;

let server: WebServer;
const log = (message: string) => ({ type: 'log', message });
const eventsOf = (messages: StreamMessage[]) => messages.flatMap((m) => (m.type === 'event' ? [(m.event as { message: string }).message] : []));

/** Cuts the transport's current socket and waits until it has connected again. */
async function dropAndReconnect(): Promise<void> {
  const before = sockets.length;
  sockets.at(-1)!.terminate();
  await vi.waitFor(() => expect(sockets.length > before && sockets.at(-1)!.readyState === NodeWebSocket.OPEN).toBe(true), { timeout: 5000 });
  // What the page sends on reconnecting has reached the server.
  await new Promise((resolve) => setTimeout(resolve, 150));
}

beforeAll(async () => {
  server = await startWebServer({ dispatcher: createDispatcher(calls, streams), staticDir: mkdtempSync(join(tmpdir(), 'berth-web-')), token: 'test-token' });
  const storage = new Map<string, string>();
  vi.stubGlobal('WebSocket', CuttableSocket);
  vi.stubGlobal('location', { protocol: 'http:', host: `127.0.0.1:${server.port}`, hash: '#token=test-token', pathname: '/', search: '' });
  vi.stubGlobal('history', { replaceState: () => {} });
  vi.stubGlobal('sessionStorage', { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v) });
});

afterAll(async () => {
  vi.unstubAllGlobals();
  await server.close();
});

describe('web mode: a dropped socket', () => {
  it('neither cancels nor restarts a running deploy; the page re-attaches and gets the events it missed, then the rest', async () => {
    const transport = createWebTransport();
    const messages: StreamMessage[] = [];
    transport.subscribe('deploy.run', { buildId: 1, group: 'prod' }, (m) => messages.push(m));
    await vi.waitFor(() => expect(deploy.runs).toHaveLength(1));
    const run = deploy.runs[0];
    run.emit(log('lock taken'));
    await vi.waitFor(() => expect(eventsOf(messages)).toEqual(['lock taken']));

    const before = sockets.length;
    sockets.at(-1)!.terminate();
    // Progress while nobody listens.
    await new Promise((resolve) => setTimeout(resolve, 50));
    run.emit(log('image sent'));
    run.emit(log('replicas ready'));
    await vi.waitFor(() => expect(sockets.length > before && sockets.at(-1)!.readyState === NodeWebSocket.OPEN).toBe(true), { timeout: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 150));

    expect(run.aborted).toBe(false);
    expect(deploy.runs).toHaveLength(1);
    run.emit(log('switched'));
    run.finish();
    await vi.waitFor(() => expect(messages.at(-1)?.type).toBe('end'));
    expect(eventsOf(messages)).toEqual(['lock taken', 'image sent', 'replicas ready', 'switched']);
    expect(messages.at(-1)).toEqual({ id: expect.any(String), type: 'end' });
    expect(deploy.runs).toHaveLength(1);
  });

  it('re-subscribes a pure subscription (the old producer stopped, a new one feeds the same listener)', async () => {
    const transport = createWebTransport();
    const messages: StreamMessage[] = [];
    const stop = transport.subscribe('status.watch', {}, (m) => messages.push(m));
    await vi.waitFor(() => expect(watch.runs).toHaveLength(1));
    await dropAndReconnect();
    await vi.waitFor(() => expect(watch.runs).toHaveLength(2));
    expect(watch.runs[0].aborted).toBe(true);
    watch.runs[1].emit(log('engine up'));
    await vi.waitFor(() => expect(eventsOf(messages)).toEqual(['engine up']));
    stop();
    await vi.waitFor(() => expect(watch.runs[1].aborted).toBe(true));
  });

  it('still cancels an operation the page stops explicitly', async () => {
    const transport = createWebTransport();
    const earlier = deploy.runs.length;
    const stop = transport.subscribe('deploy.run', { buildId: 2, group: 'prod' }, () => {});
    await vi.waitFor(() => expect(deploy.runs).toHaveLength(earlier + 1));
    stop();
    await vi.waitFor(() => expect(deploy.runs[earlier].aborted).toBe(true));
  });

  it('keeps a call whose answer was lost and gets that same answer (a key secret, shown once) without running it again', async () => {
    const transport = createWebTransport();
    await vi.waitFor(() => expect(sockets.at(-1)!.readyState).toBe(NodeWebSocket.OPEN));
    keyRuns = 0;
    keyGate = keyAnswered();
    const answer = transport.call('access.createKey', { name: 'billing', scope: { kind: 'all' } });
    await vi.waitFor(() => expect(keyRuns).toBe(1));
    const before = sockets.length;
    sockets.at(-1)!.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The key is made while the page is away: its answer has nowhere to go.
    releaseKey();
    await vi.waitFor(() => expect(sockets.length).toBeGreaterThan(before), { timeout: 5000 });
    expect(await answer).toEqual({ ok: true, value: { key: { id: 'key_1' }, secret: 'secret-1', publish: {} } });
    expect(keyRuns).toBe(1);
  });
});

describe('web mode: the wire', () => {
  /** A bare socket speaking the transport's messages. */
  async function open(): Promise<{ send: (message: object) => void; results: Map<string, CallResult[]>; close: () => void }> {
    const ws = new NodeWebSocket(`ws://127.0.0.1:${server.port}/rpc?token=test-token`);
    ws.on('error', () => {});
    const results = new Map<string, CallResult[]>();
    ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.t === 'result') results.set(message.id, [...(results.get(message.id) ?? []), message.result]);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    return { send: (message) => ws.send(JSON.stringify(message)), results, close: () => ws.terminate() };
  }

  it('answers a call sent twice with the same id once, with the same value, even from another socket', async () => {
    keyRuns = 0;
    keyGate = Promise.resolve();
    const call = { t: 'call', id: 'call-1', name: 'access.createKey', input: { name: 'ci', scope: { kind: 'all' } } };
    const first = await open();
    first.send(call);
    await vi.waitFor(() => expect(first.results.get('call-1')).toHaveLength(1));
    first.close();
    const second = await open();
    second.send(call);
    await vi.waitFor(() => expect(second.results.get('call-1')).toHaveLength(1));
    expect(second.results.get('call-1')).toEqual(first.results.get('call-1'));
    expect(first.results.get('call-1')![0]).toMatchObject({ ok: true, value: { secret: 'secret-1' } });
    expect(keyRuns).toBe(1);
    second.close();
  });
});
