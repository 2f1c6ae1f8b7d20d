import { BerthError } from '../../../../shared/errors';
import type { ServersService } from '../servers/service';
import type { SshConnection } from '../transport/ssh';

/** Opens a fresh SSH connection that the caller owns and closes. */
export type OpenConnection = (serverId: number, options?: { readyTimeoutMs?: number }) => Promise<SshConnection>;

/**
 * Dedicated connections for probes and long-lived streams, apart from the shared pool: a liveness probe that
 * times out may close its own connection without cutting a deploy's transfer, and followed logs do not use up
 * the pooled connection's sessions (OpenSSH allows 10 per connection by default).
 */
export function createServerConnector(servers: Pick<ServersService, 'openDedicated'>): OpenConnection {
  return (serverId, options = {}) => servers.openDedicated(serverId, options);
}

/**
 * Channels for streaming, spread over dedicated connections so no connection carries more than `perConnection`
 * sessions. Everything opened here is closed by `closeAll`.
 */
export function createChannelBudget(open: OpenConnection, perConnection = 8) {
  const pools = new Map<number, { connection: Promise<SshConnection>; used: number }[]>();
  let closed = false;

  async function acquire(serverId: number): Promise<{ ssh: SshConnection; release: () => void }> {
    if (closed) throw new BerthError('Cancelled', 'The log stream was closed');
    const list = pools.get(serverId) ?? [];
    pools.set(serverId, list);
    for (const entry of [...list]) {
      const ssh = await entry.connection.catch(() => undefined);
      if (!ssh?.isOpen) {
        list.splice(list.indexOf(entry), 1);
        continue;
      }
      if (entry.used < perConnection) {
        entry.used++;
        return { ssh, release: () => void entry.used-- };
      }
    }
    const entry = { connection: open(serverId), used: 1 };
    list.push(entry);
    try {
      const ssh = await entry.connection;
      if (closed) ssh.close();
      return { ssh, release: () => void entry.used-- };
    } catch (err) {
      list.splice(list.indexOf(entry), 1);
      throw err;
    }
  }

  function closeAll(): void {
    closed = true;
    for (const list of pools.values()) for (const entry of list) entry.connection.then((c) => c.close(), () => {});
    pools.clear();
  }

  return { acquire, closeAll };
}
export type ChannelBudget = ReturnType<typeof createChannelBudget>;
