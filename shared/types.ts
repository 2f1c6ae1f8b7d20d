import { z } from 'zod';
import { BuildOn } from './build-on';

export const Theme = z.enum(['system', 'dark', 'light']);

export const Settings = z.object({
  theme: Theme,
  /** Base image for generated Dockerfiles; `{python}` is replaced by the project's major.minor Python version. */
  baseImage: z.string().min(1),
  /** Where the local Docker engine listens (a unix socket path). */
  dockerSocket: z.string().min(1),
  /** Image with a Go toolchain that compiles the gateway where this machine has no `go` (the gateway itself ships as a `scratch` image). */
  gatewayBuilderImage: z.string().min(1),
  /** Inference records older than this are deleted from the local store (checked after the servers' logs are pulled). */
  inferenceRetentionDays: z.number().int().min(1).max(3650),
  /** The local store keeps at most this many inference records; the oldest beyond it are deleted. */
  inferenceMaxRows: z.number().int().min(10_000).max(100_000_000),
  /** Where a deploy builds (shared/build-on.ts): locally, on a server of the group, or `auto` by the group's platform. */
  buildOn: BuildOn,
  /** The first-run checklist was skipped or finished; Settings shows it again. */
  checklistDismissed: z.boolean(),
});
export type Settings = z.infer<typeof Settings>;

export const defaultSettings: Settings = {
  theme: 'system',
  baseImage: 'python:{python}-slim',
  dockerSocket: '/var/run/docker.sock',
  gatewayBuilderImage: 'golang:1.22-bookworm',
  inferenceRetentionDays: 30,
  inferenceMaxRows: 1_000_000,
  buildOn: 'auto',
  checklistDismissed: false,
};

export const SettingsPatch = Settings.partial().strict();
export type SettingsPatch = z.infer<typeof SettingsPatch>;

export const AppInfo = z.object({
  version: z.string(),
  mode: z.enum(['electron', 'web', 'cli']),
  dataDir: z.string(),
  platform: z.string(),
});
export type AppInfo = z.infer<typeof AppInfo>;

export const EngineInfo = z.object({
  socket: z.string(),
  version: z.string(),
  apiVersion: z.string(),
  os: z.string(),
  arch: z.string(),
  cpus: z.number(),
  memoryBytes: z.number(),
});
export type EngineInfo = z.infer<typeof EngineInfo>;

/** The base image a build starts from, as the local engine holds it (absent: the first build pulls it). */
export const BaseImageInfo = z.object({
  image: z.string(),
  present: z.boolean(),
  /** Its size here when present; null when absent (a registry would have to be asked). */
  sizeBytes: z.number().nullable(),
});
export type BaseImageInfo = z.infer<typeof BaseImageInfo>;

export const RecentProject = z.object({
  id: z.number().int(),
  path: z.string(),
  name: z.string(),
  kind: z.enum(['folder', 'notebook']),
  openedAt: z.string(),
});
export type RecentProject = z.infer<typeof RecentProject>;

export const StatusSnapshot = z.object({
  engine: z.discriminatedUnion('reachable', [
    z.object({ reachable: z.literal(true), version: z.string() }),
    z.object({ reachable: z.literal(false), message: z.string() }),
  ]),
  servers: z.object({ up: z.number().int(), total: z.number().int() }),
  checkedAt: z.string(),
});
export type StatusSnapshot = z.infer<typeof StatusSnapshot>;
