import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import sirv from 'sirv';
import { WebSocketServer, type WebSocket } from 'ws';
import type { StreamMessage } from '../../../shared/transport';
import type { Dispatcher } from '../rpc/dispatcher';
import { createRpcHost, type RpcHost } from '../rpc/sessions';

/**
 * Client → server messages of the web transport. Every id is the client's and stays the same when it sends a message
 * again after a reconnect: a call's id keys its answer, a stream's `after` and `resume` re-attach it (rpc/sessions.ts).
 * The server answers `unsub` with `unsubscribed`, so the client knows a cancel arrived.
 */
type ClientMessage =
  | { t: 'call'; id: string; name: string; input: unknown }
  | { t: 'sub'; id: string; name: string; input: unknown; after?: number; resume?: boolean }
  | { t: 'unsub'; id: string };

export interface WebServerOptions {
  dispatcher: Dispatcher;
  staticDir: string;
  port?: number;
  token?: string;
}

export interface WebServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
/** Beyond this many unsent bytes a stream's events are dropped for that socket rather than growing memory without bound. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

function sameSecret(given: string | null, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Loopback-only: rejects other Host headers (DNS rebinding) and cross-origin WebSocket upgrades. */
function isAllowedRequest(req: IncomingMessage, port: number): boolean {
  const allowedHosts = [`${LOOPBACK}:${port}`, `localhost:${port}`];
  if (!allowedHosts.includes(req.headers.host ?? '')) return false;
  const origin = req.headers.origin;
  return origin === undefined || allowedHosts.some((host) => origin === `http://${host}`);
}

/** Serves the built renderer and the contract over one WebSocket, protected by a random token. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const token = options.token ?? randomBytes(24).toString('base64url');
  const serveStatic = sirv(options.staticDir, { single: true, dev: false, etag: true });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  // One for every socket this server serves, so an operation or a call's answer outlives the socket that started it.
  const host = createRpcHost(options.dispatcher);
  let port = 0;

  const server: Server = createServer((req, res) => {
    if (!isAllowedRequest(req, port)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Berth web mode only answers on loopback.');
      return;
    }
    serveStatic(req, res);
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://${LOOPBACK}`);
    if (url.pathname !== '/rpc' || !isAllowedRequest(req, port) || !sameSecret(url.searchParams.get('token'), token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, host));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, resolve);
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `http://${LOOPBACK}:${port}/#token=${token}`,
    port,
    token,
    close: () =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serveSocket(ws: WebSocket, host: RpcHost): void {
  const send = (payload: unknown) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(payload));
  };
  const session = host.openSession((message: StreamMessage) => {
    if (message.type === 'event' && ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
    send({ t: 'stream', message });
  });

  ws.on('message', async (data) => {
    let message: ClientMessage;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (typeof message?.id !== 'string') return;
    if (message.t === 'call') {
      send({ t: 'result', id: message.id, result: await host.call(message.id, message.name, message.input) });
    } else if (message.t === 'sub') {
      session.subscribe(message.id, message.name, message.input, { after: Number(message.after) || 0, resume: message.resume === true });
    } else if (message.t === 'unsub') {
      send({ t: 'unsubscribed', id: message.id });
      await session.unsubscribe(message.id);
    }
  });

  // The page went away (or its network did): its feeds stop; its operations run on for it to re-attach.
  ws.on('close', () => session.close());
}
