import type { BerthTransport, CallResult, StreamMessage } from '../../../shared/transport';

const TOKEN_KEY = 'berth.token';
const MAX_RECONNECTS = 20;

/** The token arrives once in the URL fragment (never sent to the server in a request line); keep it for this tab. */
function takeToken(): string {
  const match = /token=([\w-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

interface Subscription {
  name: string;
  input: unknown;
  onMessage: (message: StreamMessage) => void;
}

/** The contract over one WebSocket to the loopback web server; re-subscribes live streams after a reconnect. */
export function createWebTransport(): BerthTransport {
  const token = takeToken();
  const pending = new Map<string, (result: CallResult) => void>();
  const subscriptions = new Map<string, Subscription>();
  const queue: string[] = [];
  let socket: WebSocket | undefined;
  let attempts = 0;

  function connect(): void {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc?token=${token}`);
    socket = ws;
    ws.onopen = () => {
      attempts = 0;
      for (const [id, sub] of subscriptions) ws.send(JSON.stringify({ t: 'sub', id, name: sub.name, input: sub.input }));
      while (queue.length) ws.send(queue.shift()!);
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      if (message.t === 'result') {
        pending.get(message.id)?.(message.result);
        pending.delete(message.id);
      } else if (message.t === 'stream') {
        const stream: StreamMessage = message.message;
        subscriptions.get(stream.id)?.onMessage(stream);
        if (stream.type === 'end') subscriptions.delete(stream.id);
      }
    };
    ws.onclose = () => {
      const lost = { kind: 'Internal' as const, message: 'Lost the connection to Berth; is `npm run web` still running?' };
      for (const resolve of pending.values()) resolve({ ok: false, error: lost });
      pending.clear();
      if (attempts++ < MAX_RECONNECTS) setTimeout(connect, Math.min(5000, 200 * 2 ** attempts));
      else for (const [id, sub] of subscriptions) sub.onMessage({ id, type: 'end', error: lost });
    };
  }

  function send(payload: object): void {
    const text = JSON.stringify(payload);
    if (socket?.readyState === WebSocket.OPEN) socket.send(text);
    else queue.push(text);
  }

  connect();

  return {
    call(name, input) {
      const id = crypto.randomUUID();
      return new Promise((resolve) => {
        pending.set(id, resolve);
        send({ t: 'call', id, name, input });
      });
    },
    subscribe(name, input, onMessage) {
      const id = crypto.randomUUID();
      subscriptions.set(id, { name, input, onMessage });
      send({ t: 'sub', id, name, input });
      return () => {
        if (subscriptions.delete(id)) send({ t: 'unsub', id });
      };
    },
  };
}
