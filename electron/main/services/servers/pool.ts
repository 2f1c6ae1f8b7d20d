import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../../../shared/errors';
import { command } from '../remote/command';
import { connectLocal } from '../transport/local';
import { connectSsh, type ConnectOptions, type SshConnection, type SshTarget } from '../transport/ssh';

export interface PoolTarget {
  target: SshTarget;
  fingerprint: string;
  /** `local`: this computer's shell (transport/local.ts), which never fails to open; default SSH. */
  transport?: 'ssh' | 'local';
}

export interface GetOptions {
  /** Connection attempts for an unreachable host (auth and host-key failures are never retried). */
  attempts?: number;
  readyTimeoutMs?: number;
}

const BACKOFF_MS = [500, 1500, 4000];
/** A connection idle longer than this is checked before reuse: a silently cut link would otherwise hang the caller. */
const IDLE_CHECK_MS = 10_000;
const IDLE_CHECK_TIMEOUT_MS = 3000;
/** The cheapest round trip a login answers: a member's key may run only verbs. */
const IDLE_CHECK = command('true').asVerb(['help']);

/** One SSH connection per server, reused by every service, with keepalive and bounded reconnect backoff. */
export function createConnectionPool(resolve: (serverId: number) => PoolTarget, connect = connectSsh) {
  const connections = new Map<number, Promise<SshConnection>>();

  async function open(serverId: number, options: GetOptions): Promise<SshConnection> {
    const { target, fingerprint, transport } = resolve(serverId);
    if (transport === 'local') return connectLocal(target.username);
    const connectOptions: ConnectOptions = { expectedFingerprint: fingerprint, readyTimeoutMs: options.readyTimeoutMs, keepaliveIntervalMs: 5000 };
    const attempts = Math.max(1, Math.min(options.attempts ?? 3, BACKOFF_MS.length + 1));
    for (let attempt = 1; ; attempt++) {
      try {
        const connection = await connect(target, connectOptions);
        connection.onClose(() => connections.get(serverId)?.then((c) => c === connection && connections.delete(serverId), () => {}));
        return connection;
      } catch (err) {
        const retryable = err instanceof BerthError && err.kind === 'SshUnreachable';
        if (!retryable || attempt >= attempts) throw err;
        await sleep(BACKOFF_MS[attempt - 1]);
      }
    }
  }

  async function get(serverId: number, options: GetOptions = {}): Promise<SshConnection> {
    const existing = connections.get(serverId);
    if (existing) {
      const connection = await existing.catch(() => undefined);
      if (connection?.isOpen && (await stillAlive(connection))) return connection;
      if (connections.get(serverId) === existing) connections.delete(serverId);
      connection?.close();
    }
    const pending = open(serverId, options);
    connections.set(serverId, pending);
    pending.catch(() => connections.get(serverId) === pending && connections.delete(serverId));
    return pending;
  }

  async function stillAlive(connection: SshConnection): Promise<boolean> {
    if (Date.now() - connection.lastActiveAt < IDLE_CHECK_MS) return true;
    return connection.exec(IDLE_CHECK, { timeoutMs: IDLE_CHECK_TIMEOUT_MS }).then(
      (r) => r.code === 0,
      () => false,
    );
  }

  /** Drops a connection that is known to be dead (e.g. a command timed out on a cut link). */
  function invalidate(serverId: number): void {
    const existing = connections.get(serverId);
    connections.delete(serverId);
    existing?.then((c) => c.close(), () => {});
  }

  function closeAll(): void {
    for (const id of [...connections.keys()]) invalidate(id);
  }

  return { get, invalidate, closeAll };
}
export type ConnectionPool = ReturnType<typeof createConnectionPool>;
