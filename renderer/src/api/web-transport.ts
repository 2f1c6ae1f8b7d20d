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

interface Stream {
  name: string;
  input: unknown;
  onMessage: (message: StreamMessage) => void;
  /** The number of the last event received (operations number theirs), so a re-attach gets only later ones. */
  seq: number;
  /** Sent on a connection since lost: the server then attaches to it and never starts an operation again. */
  sent: boolean;
}

interface PendingCall {
  text: string;
  resolve: (result: CallResult) => void;
}

/**
 * The contract over one WebSocket to the loopback web server. Every message carries an id of this page's, so after a
 * reconnect it is sent again as it was: a call still unanswered gets its one answer (the server keeps answers by id),
 * a stream re-attaches (an operation, from its last event received) or subscribes again (a feed), and a cancel not yet
 * confirmed is repeated. Nothing is started twice.
 */
export function createWebTransport(): BerthTransport {
  const token = takeToken();
  const pending = new Map<string, PendingCall>();
  const streams = new Map<string, Stream>();
  const cancels = new Set<string>();
  let socket: WebSocket | undefined;
  let attempts = 0;

  const isOpen = () => socket?.readyState === WebSocket.OPEN;

  function sendStream(id: string, stream: Stream): void {
    socket!.send(JSON.stringify({ t: 'sub', id, name: stream.name, input: stream.input, after: stream.seq, resume: stream.sent }));
    stream.sent = true;
  }

  function receive(message: { t: string; id: string; result?: CallResult; message?: StreamMessage }): void {
    if (message.t === 'result') {
      pending.get(message.id)?.resolve(message.result!);
      pending.delete(message.id);
    } else if (message.t === 'unsubscribed') {
      cancels.delete(message.id);
    } else if (message.t === 'stream') {
      const event = message.message!;
      const stream = streams.get(event.id);
      if (!stream) return;
      if (event.type === 'event' && event.seq !== undefined) {
        // A replay can overlap what arrived just before the drop.
        if (event.seq <= stream.seq) return;
        stream.seq = event.seq;
      }
      if (event.type === 'end') streams.delete(event.id);
      stream.onMessage(event);
    }
  }

  function giveUp(): void {
    const lost = { kind: 'Internal' as const, message: 'Lost the connection to Berth; is `npm run web` still running?' };
    for (const call of pending.values()) call.resolve({ ok: false, error: lost });
    pending.clear();
    for (const [id, stream] of streams) stream.onMessage({ id, type: 'end', error: lost });
    streams.clear();
  }

  function connect(): void {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc?token=${token}`);
    socket = ws;
    ws.onopen = () => {
      attempts = 0;
      for (const [id, stream] of streams) sendStream(id, stream);
      for (const call of pending.values()) ws.send(call.text);
      for (const id of cancels) ws.send(JSON.stringify({ t: 'unsub', id }));
    };
    ws.onmessage = (event) => receive(JSON.parse(String(event.data)));
    ws.onclose = () => {
      if (attempts++ < MAX_RECONNECTS) setTimeout(connect, Math.min(5000, 200 * 2 ** attempts));
      else giveUp();
    };
  }

  connect();

  return {
    call(name, input) {
      const id = crypto.randomUUID();
      return new Promise((resolve) => {
        const text = JSON.stringify({ t: 'call', id, name, input });
        pending.set(id, { text, resolve });
        if (isOpen()) socket!.send(text);
      });
    },
    subscribe(name, input, onMessage) {
      const id = crypto.randomUUID();
      const stream: Stream = { name, input, onMessage, seq: 0, sent: false };
      streams.set(id, stream);
      if (isOpen()) sendStream(id, stream);
      return () => {
        if (!streams.delete(id)) return;
        cancels.add(id);
        if (isOpen()) socket!.send(JSON.stringify({ t: 'unsub', id }));
      };
    },
  };
}
