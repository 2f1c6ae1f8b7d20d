import { z } from 'zod';

/**
 * routes.json: the only interface between Berth (deploys, aliases, keys) and the gateway on each server.
 * The Go gateway (resources/gateway/routes.go) reads the same shape and rejects a file that breaks these rules,
 * keeping its previous table; Berth validates before writing so that never happens.
 */

const PathSegment = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, 'Use letters, digits, ".", "_" and "-" (it becomes one URL path segment)')
  .refine((s) => s !== '.' && s !== '..', 'Not a usable path segment');

export const ModelRouteName = PathSegment.refine((s) => !s.startsWith('_'), 'Model names may not start with "_"');

/** host:port of one replica as the gateway reaches it (replicas listen on the server's loopback or LAN). */
export const ReplicaAddress = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'A replica address is host:port, e.g. 127.0.0.1:9101');

export const RoutesVersion = z.object({ replicas: z.array(ReplicaAddress) });

export const RoutesModel = z
  .object({
    /** Public models need no API key. */
    public: z.boolean().default(false),
    /** Version name (e.g. "2") → its replicas; called as /<model>/v<name>/… */
    versions: z.record(PathSegment, RoutesVersion),
    /** Alias (e.g. "latest", "stable") → a version name; called as /<model>/<alias>/… */
    aliases: z.record(PathSegment, z.string()).default({}),
    /** The model's group serves HTTPS only: a plain-HTTP request for it is refused before any key is read. */
    httpsOnly: z.boolean().optional(),
  })
  .superRefine((model, ctx) => {
    for (const [alias, target] of Object.entries(model.aliases)) {
      if (!Object.hasOwn(model.versions, target)) {
        ctx.addIssue({ code: 'custom', path: ['aliases', alias], message: `Alias "${alias}" names version "${target}", which is not among the model's versions` });
      }
    }
  });

export const RoutesKey = z.object({
  /** Shown to the replica as X-Berth-Caller and written to the request log; never the secret. */
  id: z.string().min(1),
  /** Lowercase hex sha256 of the secret; the secret itself never reaches a server. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex digits'),
  /** null: every model. */
  models: z.array(z.string()).nullable().default(null),
  /** null (or no entry for a model): every version of it; {"iris": ["1"]} limits iris to v1. */
  versions: z.record(z.string(), z.array(z.string()).nullable()).nullable().default(null),
  /** RFC 3339; from then on the key gets 401 KeyExpired. */
  expiresAt: z.iso.datetime({ offset: true }).nullable().default(null),
});

export const RoutesFile = z.object({
  /** Grows with every write, so a server's health shows which table it runs. */
  revision: z.number().int().nonnegative(),
  models: z.record(ModelRouteName, RoutesModel),
  keys: z.array(RoutesKey),
  /** Every group of the server serves HTTPS only: every plain-HTTP request is refused (but /_berth/health from loopback). */
  httpsOnly: z.boolean().optional(),
});

export type RoutesFile = z.output<typeof RoutesFile>;
export type RoutesFileInput = z.input<typeof RoutesFile>;
export type RoutesModel = z.output<typeof RoutesModel>;
export type RoutesKey = z.output<typeof RoutesKey>;

export const emptyRoutes = (): RoutesFile => ({ revision: 0, models: {}, keys: [] });

/** GET /_berth/health on a gateway (no key needed). */
export const GatewayHealth = z.object({
  status: z.literal('ok'),
  version: z.string(),
  revision: z.number(),
  keys: z.number(),
  /** Why the newest routes.json was refused (the previous table keeps serving), or null. */
  configError: z.string().nullable(),
  uptimeSeconds: z.number(),
  models: z.record(
    z.string(),
    z.object({
      public: z.boolean(),
      versions: z.record(z.string(), z.object({ healthy: z.number(), replicas: z.number() })),
      aliases: z.record(z.string(), z.string()),
    }),
  ),
  /** What the gateway serves over HTTPS (absent from gateways older than HTTPS). */
  tls: z
    .object({ serving: z.boolean(), httpsOnly: z.boolean(), notAfter: z.string().nullable(), names: z.array(z.string()), error: z.string().nullable() })
    .optional(),
});
export type GatewayHealth = z.infer<typeof GatewayHealth>;

/** One line of the gateway's request log (<logdir>/requests.jsonl, rotated to requests.jsonl.1 … .N-1). */
export const GatewayLogLine = z.object({
  seq: z.number().int(),
  ts: z.string(),
  request_id: z.string(),
  model: z.string().nullable(),
  version: z.string().nullable(),
  alias: z.string().nullable(),
  caller: z.string().nullable(),
  method: z.string(),
  path: z.string(),
  status: z.number().int(),
  latency_ms: z.number(),
  upstream: z.string().nullable(),
  bytes_in: z.number().int(),
  bytes_out: z.number().int(),
  /** Set when the gateway answered itself (Unauthorized, NoHealthyReplica, …). */
  error: z.string().optional(),
});
export type GatewayLogLine = z.infer<typeof GatewayLogLine>;
