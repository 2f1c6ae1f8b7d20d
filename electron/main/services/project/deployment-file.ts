/**
 * The app's side of berth.toml: reads a project's deployment for the deploy panel, and previews or writes the
 * panel's values into it. A berth.toml that is not valid is never replaced: its issues are the answer.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createPatch } from 'diff';
import type { DeploymentFileView, SaveDeploymentInput, SavedDeployment } from '../../../../shared/deployment-file';
import { BerthError } from '../../../../shared/errors';
import { PROJECT_FILE, type ProjectFileInput } from '../../../../shared/project-file';
import { describeDeployment, type DeploymentFacts } from './deployment';
import { parseProjectFile, projectRoot, renderProjectFile } from './project-file';

async function readText(file: string): Promise<string | null> {
  return fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new BerthError('ProjectFileInvalid', `Berth cannot read ${file}: ${err.message}`);
  });
}

/** Temp file + rename, so a reader (a teammate's editor, `berth deploy`) never sees half a file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await fs.writeFile(temp, text);
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw new BerthError('Internal', `Berth cannot write ${file}: ${err instanceof Error ? err.message : err}`);
  }
}

function withPanelValues(base: ProjectFileInput, input: SaveDeploymentInput): ProjectFileInput {
  const { memoryMb, replicas, cpus, gpus, readinessTimeoutS } = input;
  return {
    ...base,
    ...(memoryMb !== undefined && { memory_mb: memoryMb }),
    ...(replicas !== undefined && { replicas }),
    ...(cpus !== undefined && { cpus }),
    ...(gpus !== undefined && { gpus }),
    ...(readinessTimeoutS !== undefined && { readiness_timeout_s: readinessTimeoutS }),
  };
}

export function createDeploymentFiles(deps: DeploymentFacts) {
  const fileOf = (projectPath: string) => path.join(projectRoot(projectPath), PROJECT_FILE);

  /** The project's berth.toml parsed (ProjectFileInvalid, with its issues, when it is not valid). */
  async function current(file: string) {
    const text = await readText(file);
    return { text, projectFile: text === null ? null : parseProjectFile(text, file) };
  }

  /**
   * What the panel's values start from: the project's berth.toml, keeping every field it has; a group other than the
   * file's (or a project without one) is described as this Berth knows it, with its servers' pinned host keys.
   */
  async function baseFor(input: SaveDeploymentInput, projectFile: ProjectFileInput | null): Promise<ProjectFileInput> {
    if (projectFile?.group.name === input.group) return projectFile;
    const described = (await describeDeployment(input.path, input.group, deps)).file;
    return projectFile ? { ...projectFile, group: described.group } : described;
  }

  return {
    async read(projectPath: string): Promise<DeploymentFileView> {
      const file = fileOf(projectPath);
      return { file, projectFile: (await current(file)).projectFile };
    },

    /** The berth.toml the panel's values make, with its diff; written only when `write` is set and it changed. */
    async save(input: SaveDeploymentInput): Promise<SavedDeployment> {
      const file = fileOf(input.path);
      const { text: before, projectFile } = await current(file);
      const after = renderProjectFile(withPanelValues(await baseFor(input, projectFile), input));
      const written = input.write && after !== before;
      if (written) await writeAtomically(file, after);
      return { file, before, after, diff: createPatch(PROJECT_FILE, before ?? '', after), written };
    },
  };
}
export type DeploymentFiles = ReturnType<typeof createDeploymentFiles>;
