/** Live container logs and the inference-request store: the contract's shapes, shared by services, UI and CLI. */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------------------------
// Live logs

const containerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'Not a container name');
const modelName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'Not a model name');

/** What to follow: one container, every Berth container of one server, or every replica of a model (version) across servers. */
export const LogTarget = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('container'), serverId: z.number().int().positive(), container: containerName }).strict(),
  z.object({ kind: z.literal('server'), serverId: z.number().int().positive() }).strict(),
  z
    .object({
      kind: z.literal('model'),
      model: modelName,
      /** One version; every version of the model when left out. */
      version: z.number().int().positive().optional(),
      /** Limit to these servers; by default every registered server (containers are found by their labels). */
      serverIds: z.array(z.number().int().positive()).optional(),
    })
    .strict(),
]);
export type LogTarget = z.infer<typeof LogTarget>;

/** `docker logs --since` accepts RFC 3339 times and relative durations such as 10m or 2h. */
const since = z
  .string()
  .regex(/^(\d{1,6}[smh]|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))$/, 'Since is a time like 2025-01-31T12:00:00Z or a duration like 10m');

export const LogFollowInput = z
  .object({
    target: LogTarget,
    /** Lines of history per container before following. */
    tail: z.number().int().min(0).max(10_000).default(200),
    since: since.optional(),
  })
  .strict();
export type LogFollowInput = z.input<typeof LogFollowInput>;

export const LogSource = z.object({
  id: z.number().int(),
  serverId: z.number().int(),
  server: z.string(),
  container: z.string(),
  state: z.enum(['following', 'ended', 'failed']),
  message: z.string().nullable(),
});
export type LogSource = z.infer<typeof LogSource>;

export const LogLine = z.object({
  /** LogSource.id */
  s: z.number().int(),
  /** Docker's timestamp (RFC 3339, nanoseconds), or '' for a line without one. */
  ts: z.string(),
  text: z.string(),
  /** true for the container's stderr. */
  err: z.boolean().optional(),
});
export type LogLine = z.infer<typeof LogLine>;

export const LogFollowEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sources'), sources: z.array(LogSource) }),
  /** `skipped`: lines dropped before this batch because the subscriber could not keep up. */
  z.object({ type: z.literal('lines'), lines: z.array(LogLine), skipped: z.number().int() }),
]);
export type LogFollowEvent = z.infer<typeof LogFollowEvent>;

export const LogContainer = z.object({
  name: z.string(),
  state: z.string(),
  model: z.string().nullable(),
  version: z.number().nullable(),
  replica: z.number().nullable(),
});
export type LogContainer = z.infer<typeof LogContainer>;

/** What the target picker offers: servers with their Berth containers, and model versions found on them. */
export const LogTargets = z.object({
  servers: z.array(
    z.object({ id: z.number(), name: z.string(), reachable: z.boolean(), error: z.string().nullable(), containers: z.array(LogContainer) }),
  ),
  versions: z.array(z.object({ model: z.string(), version: z.number(), serverIds: z.array(z.number()) })),
});
export type LogTargets = z.infer<typeof LogTargets>;

const PALETTE = [36, 33, 35, 32, 34, 96, 93, 95, 92, 94];

/** One terminal line: a colored `server/container` prefix (ANSI), stderr in red, and the text. */
export function formatLogLine(line: LogLine, source: Pick<LogSource, 'id' | 'server' | 'container'> | undefined, color = true): string {
  const prefix = source ? `${source.server}/${source.container}` : '?';
  const time = line.ts ? line.ts.slice(11, 23) : '';
  if (!color) return `${time} ${prefix} | ${line.text}\r\n`;
  const hue = PALETTE[(source?.id ?? 0) % PALETTE.length];
  const text = line.err ? `\x1b[31m${line.text}\x1b[0m` : line.text;
  return `\x1b[90m${time}\x1b[0m \x1b[${hue}m${prefix}\x1b[0m ${text}\r\n`;
}

export function formatSkipped(count: number, color = true): string {
  const text = `… ${count} line${count === 1 ? '' : 's'} skipped (the viewer could not keep up)`;
  return color ? `\x1b[33m${text}\x1b[0m\r\n` : `${text}\r\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Inference records

const isoTime = z.iso.datetime({ offset: true });

export const StatusFilter = z.union([z.enum(['ok', 'error', 'client_error', 'server_error']), z.number().int().min(100).max(599)]);

export const InferenceQuery = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    model: z.string().max(64).optional(),
    version: z.string().max(32).optional(),
    status: StatusFilter.optional(),
    caller: z.string().max(256).optional(),
    server: z.string().max(64).optional(),
    /** Words searched in input, output and error (all must occur; a trailing * matches a prefix). */
    text: z.string().max(500).optional(),
    limit: z.number().int().min(1).max(1000).default(100),
    offset: z.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
export type InferenceQuery = z.input<typeof InferenceQuery>;
export type ParsedInferenceQuery = z.output<typeof InferenceQuery>;

export const InferenceRecord = z.object({
  id: z.number(),
  server: z.string(),
  requestId: z.string(),
  ts: z.string(),
  model: z.string().nullable(),
  version: z.string().nullable(),
  alias: z.string().nullable(),
  caller: z.string().nullable(),
  method: z.string().nullable(),
  path: z.string().nullable(),
  status: z.number().nullable(),
  latencyMs: z.number().nullable(),
  replica: z.string().nullable(),
  replicaLatencyMs: z.number().nullable(),
  input: z.string().nullable(),
  output: z.string().nullable(),
  error: z.string().nullable(),
  /** Which logs the record was joined from. */
  sources: z.enum(['gateway', 'replica', 'both']),
});
export type InferenceRecord = z.infer<typeof InferenceRecord>;

/** A stretch of records that rotation removed on the server before Berth pulled it. */
export const IngestGap = z.object({
  id: z.number(),
  server: z.string(),
  source: z.string(),
  /** e.g. "seq 120" / "2025-01-31T12:00:00.123Z" */
  after: z.string(),
  before: z.string(),
  missing: z.number().nullable(),
  detectedAt: z.string(),
  message: z.string(),
});
export type IngestGap = z.infer<typeof IngestGap>;

export const InferenceSearchResult = z.object({
  records: z.array(InferenceRecord),
  more: z.boolean(),
  /** Matches counted up to the page's end or 1000, whichever is further: `capped` means "at least `count`" ("1000+"). */
  total: z.object({ count: z.number(), capped: z.boolean() }),
  tookMs: z.number(),
  gaps: z.array(IngestGap),
});
export type InferenceSearchResult = z.infer<typeof InferenceSearchResult>;

export const InferenceStatsInput = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    model: z.string().max(64).optional(),
    buckets: z.number().int().min(2).max(500).default(60),
  })
  .strict();
export type InferenceStatsInput = z.input<typeof InferenceStatsInput>;

export const StatsPoint = z.object({
  t: z.number(),
  requests: z.number(),
  errors: z.number(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});
export type StatsPoint = z.infer<typeof StatsPoint>;

export const InferenceStats = z.object({
  from: z.number(),
  to: z.number(),
  bucketMs: z.number(),
  series: z.array(z.object({ model: z.string(), version: z.string(), points: z.array(StatsPoint) })),
});
export type InferenceStats = z.infer<typeof InferenceStats>;

export const InferenceExportInput = z
  .object({
    query: InferenceQuery.omit({ limit: true, offset: true }).default({}),
    format: z.enum(['csv', 'jsonl']),
    /** Write to this file (any size); without it the text is returned (up to 100 000 records). */
    path: z.string().min(1).optional(),
  })
  .strict();
export type InferenceExportInput = z.input<typeof InferenceExportInput>;

export const InferenceExportResult = z.object({ rows: z.number(), path: z.string().nullable(), text: z.string().nullable() });
export type InferenceExportResult = z.infer<typeof InferenceExportResult>;

export const SyncResult = z.object({
  servers: z.array(
    z.object({
      server: z.string(),
      gateway: z.number(),
      replica: z.number(),
      gaps: z.number(),
      error: z.string().nullable(),
      tookMs: z.number(),
    }),
  ),
});
export type SyncResult = z.infer<typeof SyncResult>;
