import { BerthError } from '../../../../shared/errors';
import type { CallHandlers, StreamHandlers } from '../../rpc/dispatcher';
import { createLogsService } from '../logs/follow';
import { createInferenceStore } from '../logs/inference-store';
import { createInferenceIngest, GATEWAY_LOG_DIR } from '../logs/ingest';
import { createInferenceSearch } from '../logs/search';
import { layoutFromEnv, type ServerLayout } from '../remote/layout';
import type { ServerRegistry } from '../servers/registry';
import type { ServersService } from '../servers/service';
import type { RetentionPolicy } from '../logs/retention';
import type { Db } from '../store/database';
import { createAlertStore, createEventLog, createWebhookStore } from './alerts';
import { createAlertCenter } from './center';
import { createServerConnector, type OpenConnection } from './connect';
import type { DetectOptions } from './detect';
import { createMonitor, type RecoveryHooks } from './monitor';
import type { WebhookOptions } from './webhook';

export interface ObservabilityDeps {
  db: Db;
  servers: Pick<ServersService, 'connection' | 'openDedicated'>;
  registry: ServerRegistry;
  /** Replaces the dedicated-connection opener (tests). */
  open?: OpenConnection;
  gatewayLogDir?: (server: { id: number; name: string }) => string;
  monitorIntervalMs?: number;
  ingestIntervalMs?: number;
  detect?: Partial<DetectOptions>;
  webhook?: WebhookOptions;
  recovery?: RecoveryHooks;
  /**
   * Where Berth's files are on the servers (the monitor reads the agents' views there). Pass app.ts's layout; the
   * default is the same one, from the environment.
   */
  layout?: ServerLayout;
  /** The inference records' retention settings, read at each pass (default: the settings' defaults). */
  retention?: () => RetentionPolicy;
}

/**
 * Live logs, inference records, monitoring and alerts, composed once for app.ts: the services, their contract
 * handlers, and `start`/`stop` for the background work (monitor polls, inference pulls) while Berth runs.
 */
export function createObservability(deps: ObservabilityDeps) {
  const { db, registry } = deps;
  const open = deps.open ?? createServerConnector(deps.servers);
  const listServers = () => registry.list().map((s) => ({ id: s.id, name: s.name, host: s.host }));
  const groupsOfServer = (serverId: number) => registry.groups().filter((g) => g.serverIds.includes(serverId)).map((g) => ({ id: g.id, name: g.name }));

  const logs = createLogsService({ connection: (id) => deps.servers.connection(id), open, listServers });
  const inferenceStore = createInferenceStore(db);
  const events = createEventLog(db);
  const ingest = createInferenceIngest({
    store: inferenceStore,
    connection: (id) => deps.servers.connection(id, { attempts: 1, readyTimeoutMs: 5000 }),
    listServers,
    gatewayLogDir: deps.gatewayLogDir ?? (() => GATEWAY_LOG_DIR),
    retention: deps.retention,
    onGap: (server, count) =>
      events.record({
        kind: 'ingest.gap',
        subject: server.name,
        message: `${count} gap${count === 1 ? '' : 's'} in the inference records of ${server.name}: rotation removed records before Berth pulled them`,
        actor: 'berth-ingest',
      }),
  });
  const search = createInferenceSearch(inferenceStore);
  const alerts = createAlertStore(db);
  const webhooks = createWebhookStore(db);
  const center = createAlertCenter({ alerts, events, webhooks, groupsOfServer, webhook: deps.webhook });
  const monitor = createMonitor({
    open,
    listServers,
    groupsOfServer,
    center,
    events,
    recovery: deps.recovery,
    intervalMs: deps.monitorIntervalMs,
    detect: deps.detect,
    layout: deps.layout ?? layoutFromEnv(),
    onServerReturned: (id) => {
      const server = listServers().find((s) => s.id === id);
      if (server) void ingest.pullServer(server);
    },
  });

  const calls = {
    'logs.targets': () => logs.targets(),
    'inference.search': (query) => search.search(query),
    'inference.stats': (input) => search.stats(input),
    'inference.export': (input) => search.export(input),
    'inference.sync': ({ serverIds }) => ingest.sync(serverIds),
    'monitor.snapshot': () => monitor.snapshot(),
    'alerts.list': ({ state, limit }) => alerts.list(state, limit),
    'alerts.webhooks': () => webhooks.list(),
    'alerts.setWebhook': ({ groupId, url }) => {
      registry.group(groupId); // NotFound with a clear message for an unknown group
      return webhooks.set(groupId, url);
    },
    'events.list': ({ limit, beforeId }) => events.list(limit, beforeId),
  } satisfies Partial<CallHandlers>;

  const streams = {
    'logs.follow': (input, emit, signal) => logs.follow(input, emit, signal),
    'monitor.watch': (_input, emit, signal) => {
      if (!monitor.running) throw new BerthError('Conflict', 'Monitoring is not running in this Berth process (the command line does not monitor)');
      return monitor.watch(emit, signal);
    },
    'alerts.watch': (_input, emit, signal) => center.watch(emit, signal),
  } satisfies Partial<StreamHandlers>;

  function stop() {
    monitor.stop();
    ingest.stop();
    center.close();
  }

  return {
    logs,
    inference: { store: inferenceStore, ingest, search },
    monitor,
    alerts: center,
    alertStore: alerts,
    events,
    webhooks,
    calls,
    streams,
    /** Background work while the app runs: server monitoring and inference pulls. */
    start() {
      monitor.start();
      ingest.start(deps.ingestIntervalMs ?? 5000);
    },
    stop,
    /** Stops the background work and ends the search worker (before the database closes). */
    close() {
      stop();
      void search.close();
    },
  };
}
export type Observability = ReturnType<typeof createObservability>;
