/**
 * `berth.toml`: the deployment a project carries with it (committed beside the notebook), so every Berth, a CI
 * runner's included, deploys the same model to the same servers with the same settings.
 */
import { z } from 'zod';
import { GpuRequest, ModelName } from './deploy';
import { GroupName, ServerName } from './servers';

export const PROJECT_FILE = 'berth.toml';
/** The reviewed Dockerfile and requirements live here, beside berth.toml. */
export const REVIEWED_DIR = '.berth';

const fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'Not a host-key fingerprint: it looks like SHA256: and 43 base64 characters (as `ssh-keyscan HOST | ssh-keygen -lf -` prints)');

export const ProjectFileServer = z
  .object({
    name: ServerName,
    host: z.string().trim().min(1).regex(/^[A-Za-z0-9.:_-]+$/, 'A host name or an IP address, without spaces or a user@ prefix'),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().regex(/^[a-z_][a-z0-9_.-]*$/i, 'Not a valid user name').default('root'),
    host_key: fingerprint,
  })
  .strict();
export type ProjectFileServer = z.infer<typeof ProjectFileServer>;

/** The group "this computer" is the one server of (`servers.addLocal`). */
export const LOCAL_GROUP = 'local';

export const ProjectFileGroup = z
  .object({
    name: GroupName,
    /** The group is this computer's (`name = "local"`), instead of servers: whoever deploys, deploys to their own computer. */
    this_computer: z.literal(true, { error: 'this_computer is true, or left out' }).optional(),
    servers: z.array(ProjectFileServer).optional(),
  })
  .strict()
  .refine((g) => (g.this_computer ? !g.servers?.length : Boolean(g.servers?.length)), {
    message: 'A group is this computer (this_computer = true) or has servers ([[group.servers]]): give exactly one of them',
    path: ['servers'],
  })
  .refine((g) => !g.this_computer || g.name === LOCAL_GROUP, { message: `This computer's group is named "${LOCAL_GROUP}"`, path: ['name'] })
  .refine((g) => new Set((g.servers ?? []).map((s) => s.name)).size === (g.servers ?? []).length, { message: 'Two servers have the same name', path: ['servers'] });

export const ProjectFile = z
  .object({
    model: ModelName,
    /** The function to serve (default: predict, infer or score, as the notebook defines it). */
    entrypoint: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'A Python function name').optional(),
    /** The notebook to serve when the folder holds several (relative path). */
    notebook: z.string().min(1).optional(),
    /** Replaces the base-image setting for this project; `{python}` becomes the notebook's Python version. */
    base_image: z.string().min(1).optional(),
    /** Replicas per server (default: the group's). */
    replicas: z.number().int().min(1).max(32).optional(),
    memory_mb: z.number().int().min(64).max(1_048_576).default(1024),
    cpus: z.number().min(0.1).max(256).default(1),
    /** GPUs per replica: how many (`gpus = 1`) or which, by index (`gpus = ["0", "1"]`); 0: none. */
    gpus: z
      .union([z.literal(0), GpuRequest], { error: 'GPUs per replica are a count (gpus = 1) or GPU indexes in quotes (gpus = ["0", "1"]), each GPU once; 0 or left out: none' })
      .default(0),
    /** How long each replica may take to answer /readyz. */
    readiness_timeout_s: z.number().int().min(1).max(3600).default(120),
    group: ProjectFileGroup,
  })
  .strict();
export type ProjectFile = z.infer<typeof ProjectFile>;
export type ProjectFileInput = z.input<typeof ProjectFile>;

/** The deploy's GPU request for a berth.toml's `gpus` (0: none). */
export const gpuRequestOf = (gpus: ProjectFile['gpus']): GpuRequest | null => (gpus === 0 ? null : gpus);

/** One problem in berth.toml, where it is. */
export interface ProjectFileIssue {
  line: number | null;
  /** The field, as in the file: `group.servers[1].host_key`. */
  field: string;
  message: string;
}
