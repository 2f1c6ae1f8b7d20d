/** Health of servers and replicas, alerts and the event trail: the contract's shapes. */
import { z } from 'zod';

export const ReplicaHealth = z.object({
  container: z.string(),
  model: z.string().nullable(),
  version: z.number().nullable(),
  replica: z.number().nullable(),
  port: z.number().nullable(),
  /** Docker's state: running, restarting, exited, dead, created, paused. */
  state: z.string(),
  exitCode: z.number().nullable(),
  restartCount: z.number(),
  oomKilled: z.boolean(),
  /** /readyz answered 200; null when the container is not running or has no port. */
  ready: z.boolean().nullable(),
  memoryLimitBytes: z.number().nullable(),
  memoryUsageBytes: z.number().nullable(),
  /** The highest usage seen by Berth (or the cgroup's own peak when the kernel reports it). */
  memoryPeakBytes: z.number().nullable(),
  startedAt: z.string().nullable(),
});
export type ReplicaHealth = z.infer<typeof ReplicaHealth>;

/** What the server's agent (docs/AGENT.md) last reported, as read by this Berth over SSH. */
export const AgentSummary = z.object({
  /** The view's own time (RFC 3339, the server's clock). */
  at: z.string(),
  /** The view's age in seconds when Berth last read it (the server's clock): ≤ 15 is a live agent. */
  ageSeconds: z.number(),
  /** This server's agent leads (sends the alerts of) at least one of its groups. */
  leader: z.boolean(),
  caughtUp: z.boolean(),
  /** The other servers of its groups as this agent sees them. */
  peers: z.array(z.object({ name: z.string(), state: z.enum(['up', 'lost', 'unknown']) })),
  /** Open incidents in its groups. */
  incidents: z.number(),
  /** Stand-in replicas running on this server for lost peers. */
  standIns: z.number(),
});
export type AgentSummary = z.infer<typeof AgentSummary>;

export const ServerHealth = z.object({
  serverId: z.number(),
  name: z.string(),
  host: z.string(),
  reachable: z.boolean(),
  engine: z.enum(['up', 'down', 'unknown']),
  gateway: z.enum(['up', 'down', 'absent', 'unknown']),
  diskFreeBytes: z.number().nullable(),
  diskTotalBytes: z.number().nullable(),
  latencyMs: z.number().nullable(),
  error: z.string().nullable(),
  checkedAt: z.string().nullable(),
  replicas: z.array(ReplicaHealth),
  /** The agent's last fresh view; null when the server has no agent (or its view is older than 15 s). */
  agent: AgentSummary.nullable().optional(),
});
export type ServerHealth = z.infer<typeof ServerHealth>;

export const MonitorSnapshot = z.object({ servers: z.array(ServerHealth), at: z.string() });
export type MonitorSnapshot = z.infer<typeof MonitorSnapshot>;

export const alertKinds = [
  'server_unreachable',
  'engine_down',
  'gateway_down',
  'replica_crashed',
  'replica_crash_loop',
  'replica_oom',
  'replica_not_ready',
  'disk_low',
  /** A gateway's HTTPS certificate has fewer than 30 days left (it should have been renewed): judged by the certificate pass, not the monitor. */
  'certificate_expiring',
] as const;
export const AlertKind = z.enum(alertKinds);
export type AlertKind = z.infer<typeof AlertKind>;

export const Alert = z.object({
  id: z.number(),
  kind: AlertKind,
  /** What the alert is about: a server name, or server/container. */
  subject: z.string(),
  severity: z.enum(['critical', 'warning']),
  serverId: z.number().nullable(),
  message: z.string(),
  detail: z.unknown(),
  openedAt: z.string(),
  lastSeenAt: z.string(),
  resolvedAt: z.string().nullable(),
  resolvedMessage: z.string().nullable(),
});
export type Alert = z.infer<typeof Alert>;

export const AlertEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), open: z.array(Alert) }),
  z.object({ type: z.literal('opened'), alert: Alert }),
  z.object({ type: z.literal('resolved'), alert: Alert }),
]);
export type AlertEvent = z.infer<typeof AlertEvent>;

/** Every automatic action and alert, later joined with the audit trail. */
export const BerthEvent = z.object({
  id: z.number(),
  at: z.string(),
  kind: z.string(),
  subject: z.string().nullable(),
  message: z.string(),
  detail: z.unknown(),
  actor: z.string(),
  alertId: z.number().nullable(),
});
export type BerthEvent = z.infer<typeof BerthEvent>;

export const Webhook = z.object({ groupId: z.number(), group: z.string(), url: z.string() });
export type Webhook = z.infer<typeof Webhook>;

export const WebhookUrl = z
  .url({ protocol: /^https?$/, error: 'A webhook is an http:// or https:// URL' })
  .max(2000);

export const AlertsListInput = z
  .object({ state: z.enum(['open', 'all']).default('open'), limit: z.number().int().min(1).max(1000).default(200) })
  .strict();

export const EventsListInput = z
  .object({ limit: z.number().int().min(1).max(1000).default(200), beforeId: z.number().int().positive().optional() })
  .strict();

export const SetWebhookInput = z.object({ groupId: z.number().int().positive(), url: WebhookUrl.nullable() }).strict();
