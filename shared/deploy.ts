import { z } from 'zod';
import { TlsMode } from './tls';

export const ModelName = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'Model names use lowercase letters, digits and dashes');
export const AliasName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'Aliases use lowercase letters, digits and dashes, starting with a letter')
  .refine((a) => !/^v\d+$/.test(a), 'v<number> is reserved for version URLs');

/** A GPU of a server, by the index nvidia-smi gives it (Docker's `--gpus device=<index>`). */
export const GpuIndex = z.string().regex(/^\d{1,3}$/, 'A GPU is named by its index, as nvidia-smi numbers it ("0", "1", …)');

/**
 * The GPUs each replica gets: how many (Berth picks free ones on each server), or which ones by index (the same on
 * every server). Either way a replica's GPUs are its own: Berth never gives one GPU to two replicas.
 */
export const GpuRequest = z.union([
  z.number().int().min(1, 'Ask for at least 1 GPU per replica, or none at all').max(64),
  z
    .array(GpuIndex)
    .min(1, 'Name at least one GPU, or none at all')
    .max(64)
    .refine((ids) => new Set(ids).size === ids.length, 'A GPU is named twice'),
]);
export type GpuRequest = z.infer<typeof GpuRequest>;

export const DeployPhase = z.enum(['lock', 'gateway', 'transport', 'start', 'ready', 'switch', 'cleanup', 'done', 'failed', 'undo']);
export type DeployPhase = z.infer<typeof DeployPhase>;

export const DeployEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('progress'),
    server: z.string(),
    phase: DeployPhase,
    message: z.string(),
    bytesSent: z.number().optional(),
    bytesTotal: z.number().optional(),
  }),
  z.object({ type: z.literal('log'), message: z.string() }),
  z.object({ type: z.literal('done'), model: z.string(), version: z.number(), operationId: z.number(), durationMs: z.number() }),
]);
export type DeployEvent = z.infer<typeof DeployEvent>;

export const DeployRequest = z
  .object({
    model: ModelName,
    imageRef: z.string().min(1),
    group: z.string().min(1, 'Choose the server group to deploy to'),
    /** Replicas per server; the group's default when absent. */
    replicas: z.number().int().min(1).max(32).optional(),
    memoryMb: z.number().int().min(64).max(1_048_576).default(1024),
    cpus: z.number().min(0.1).max(256).default(1),
    /** GPUs per replica (null: none); placed only where they are free, else the deploy is refused before anything is sent. */
    gpus: GpuRequest.nullable().default(null),
    readyTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    message: z.string().max(500).default(''),
    /** Take over a lock left by a crashed deploy. */
    breakLock: z.boolean().default(false),
    projectPath: z.string().nullable().default(null),
    notebookHash: z.string().nullable().default(null),
    dockerfile: z.string().nullable().default(null),
    requirements: z.string().nullable().default(null),
  })
  .strict();
export type DeployRequest = z.input<typeof DeployRequest>;

/** What the UI and CLI send: a smoke-tested local build (model name, image and provenance come from its record). */
export const DeployBuildRequest = DeployRequest.omit({ model: true, imageRef: true, projectPath: true, notebookHash: true, dockerfile: true, requirements: true })
  .extend({ buildId: z.number().int().positive() })
  .strict();
export type DeployBuildRequest = z.input<typeof DeployBuildRequest>;

export const VersionView = z.object({
  id: z.number(),
  number: z.number(),
  imageRef: z.string(),
  imageId: z.string(),
  notebookHash: z.string().nullable(),
  dockerfile: z.string().nullable(),
  requirements: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  /** What the deployer said of it; null: nothing. */
  message: z.string().nullable(),
  state: z.enum(['pending', 'live', 'stopped', 'retired', 'failed']),
  aliases: z.array(z.string()),
  servers: z.array(z.object({ serverId: z.number(), server: z.string(), replicas: z.array(z.object({ name: z.string(), port: z.number() })) })),
  /** Servers of the version's group where its image is gone: a rollback is offered only when this is empty. */
  imageMissingOn: z.array(z.string()),
});
export type VersionView = z.infer<typeof VersionView>;

export const OperationView = z.object({
  id: z.number(),
  kind: z.string(),
  version: z.number().nullable(),
  actor: z.string(),
  state: z.string(),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type OperationView = z.infer<typeof OperationView>;

export const ModelView = z.object({
  name: z.string(),
  public: z.boolean(),
  keepVersions: z.number(),
  groups: z.array(z.string()),
  versions: z.array(VersionView),
  operations: z.array(OperationView),
  endpoints: z.array(z.object({ server: z.string(), baseUrl: z.string() })),
  /** How clients reach the endpoints: HTTPS trusting the group CA (its PEM), or plain HTTP; null before any placement. */
  tls: z.object({ group: z.string(), mode: TlsMode, authority: z.string().nullable() }).nullable(),
});
export type ModelView = z.infer<typeof ModelView>;
