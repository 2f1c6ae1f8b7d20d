import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../../../shared/errors';
import type { SyncResult } from '../../../../shared/logs';
import type { SshConnection } from '../transport/ssh';
import { pullGatewayLog } from './gateway-pull';
import type { InferenceStore, ServerRef } from './inference-store';
import { listBerthContainers } from './remote';
import { pullReplicaLog } from './replica-pull';
import { createRetention, type RetentionPolicy } from './retention';

export const GATEWAY_LOG_DIR = '/var/lib/berth/logs/gateway';

export interface IngestDeps {
  store: InferenceStore;
  connection(serverId: number): Promise<SshConnection>;
  listServers(): ServerRef[];
  /** The gateway's log folder on a server (tests use one folder per fake server). */
  gatewayLogDir?: (server: ServerRef) => string;
  onGap?: (server: ServerRef, count: number) => void;
  /** The retention settings (default: the settings' defaults), applied after pulls. */
  retention?: () => RetentionPolicy;
}

type ServerSync = SyncResult['servers'][number];

/**
 * Pulls every server's inference records into SQLite: the gateway's log by seq, then each replica's request lines
 * by Docker timestamp. Pulls of one server never overlap; records stay on the server while Berth is closed and
 * are pulled at the next start.
 */
export function createInferenceIngest(deps: IngestDeps) {
  const running = new Map<number, Promise<ServerSync>>();
  const dirOf = deps.gatewayLogDir ?? (() => GATEWAY_LOG_DIR);
  const retention = createRetention({ store: deps.store, policy: deps.retention });

  async function pull(server: ServerRef): Promise<ServerSync> {
    const started = performance.now();
    const result: ServerSync = { server: server.name, gateway: 0, replica: 0, gaps: 0, error: null, tookMs: 0 };
    try {
      const ssh = await deps.connection(server.id);
      const gateway = await pullGatewayLog(ssh, server, deps.store, dirOf(server));
      result.gateway = gateway.added;
      result.gaps += gateway.gaps;
      const replicas = (await listBerthContainers(ssh, 15_000)).filter((c) => c.model !== null);
      for (const container of replicas) {
        const pulled = await pullReplicaLog(ssh, server, container, deps.store);
        result.replica += pulled.added;
        result.gaps += pulled.gaps;
      }
    } catch (err) {
      result.error = BerthError.from(err).message;
    }
    if (result.gaps > 0) {
      try {
        deps.onGap?.(server, result.gaps);
      } catch {
        // Berth closed meanwhile
      }
    }
    result.tookMs = Math.round(performance.now() - started);
    // Records older or more than the settings allow go now, in bounded batches (a closed store ends the pass).
    await retention.afterPull().catch(() => 0);
    return result;
  }

  /** Pulls one server now, or joins the pull already running for it. */
  function pullServer(server: ServerRef): Promise<ServerSync> {
    const existing = running.get(server.id);
    if (existing) return existing;
    const pending = pull(server).finally(() => running.delete(server.id));
    running.set(server.id, pending);
    return pending;
  }

  async function sync(serverIds?: number[]): Promise<SyncResult> {
    const servers = deps.listServers().filter((s) => !serverIds || serverIds.includes(s.id));
    return { servers: await Promise.all(servers.map(pullServer)) };
  }

  let stop: AbortController | null = null;
  /** Pulls every `intervalMs` while Berth runs; a server whose pull fails is retried at the next round. */
  function start(intervalMs = 5000): void {
    if (stop) return;
    const controller = new AbortController();
    stop = controller;
    void (async () => {
      while (!controller.signal.aborted) {
        // Servers are pulled independently: one unreachable server does not hold back the others.
        for (const server of deps.listServers()) void pullServer(server);
        await sleep(intervalMs, undefined, { signal: controller.signal }).catch(() => undefined);
      }
    })();
  }

  return {
    sync,
    pullServer,
    retention,
    start,
    stop: () => {
      stop?.abort();
      stop = null;
    },
  };
}
export type InferenceIngest = ReturnType<typeof createInferenceIngest>;
