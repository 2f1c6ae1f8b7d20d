/**
 * The app's side of berth.toml: reading a project's deployment, and previewing or writing the change the deploy
 * panel makes to it (the schema of the file itself is shared/project-file.ts).
 */
import { z } from 'zod';
import { ProjectFile } from './project-file';
import { GroupName } from './servers';

const fields = ProjectFile.shape;

/** A project's berth.toml as it stands: where it is (or would be), and its deployment; null when it has none yet. */
export const DeploymentFileView = z.object({
  file: z.string(),
  projectFile: ProjectFile.nullable(),
});
export type DeploymentFileView = z.infer<typeof DeploymentFileView>;

/** The deploy panel's values; a value left out keeps the file's. */
export const SaveDeploymentInput = z
  .object({
    /** The project folder or .ipynb, as opened. */
    path: z.string().min(1, 'Give the path of the project folder or notebook'),
    group: GroupName,
    memoryMb: fields.memory_mb.removeDefault().optional(),
    replicas: fields.replicas,
    cpus: fields.cpus.removeDefault().optional(),
    /** GPUs per replica (0: none). */
    gpus: fields.gpus.removeDefault().optional(),
    readinessTimeoutS: fields.readiness_timeout_s.removeDefault().optional(),
    /** False: only show what would change. */
    write: z.boolean(),
  })
  .strict();
export type SaveDeploymentInput = z.infer<typeof SaveDeploymentInput>;

export const SavedDeployment = z.object({
  /** The berth.toml's absolute path. */
  file: z.string(),
  /** The file's text before, or null when the project had none. */
  before: z.string().nullable(),
  after: z.string(),
  /** Unified diff from `before` to `after`. */
  diff: z.string(),
  /** True when this call wrote the file (asked to, and it changed). */
  written: z.boolean(),
});
export type SavedDeployment = z.infer<typeof SavedDeployment>;
