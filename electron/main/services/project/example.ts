/**
 * The bundled example project (resources/example/): a notebook that trains on a data set scikit-learn ships, so a
 * newcomer's first build and deploy need nothing of their own and nothing from the internet. The installed copy is
 * read-only inside the app bundle, so the user works on a copy in the data folder.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type { RecentProject } from '../../../../shared/types';
import { resourcePath } from '../resources';
import { parseNotebook } from './notebook';

export const EXAMPLE_PROJECT = 'iris-classifier';
const EXAMPLE_NOTEBOOK = 'iris_classifier.ipynb';

/** The installed example's folder (undefined when the installation lacks it). */
export const installedExampleDir = () => resourcePath('example', EXAMPLE_PROJECT);

export interface ExampleDeps {
  /** `<data folder>/examples`: where the writable copies live. */
  folder: string;
  /** Opens a project as `projects.open` does. */
  open: (path: string) => Promise<RecentProject>;
  /** The installed example; default: found through resources.ts. */
  source?: () => string | undefined;
}

export function createExampleProjects({ folder, open, source = installedExampleDir }: ExampleDeps) {
  /** Copies the example into the data folder unless a copy is there (it may hold the user's edits), then opens it. */
  async function openExample(): Promise<RecentProject> {
    const copy = path.join(folder, EXAMPLE_PROJECT);
    if (!(await exists(copy))) await copyOnce(installedExample(), copy);
    return open(copy);
  }

  function installedExample(): string {
    const dir = source();
    if (!dir) throw new BerthError('Internal', `Berth's example project (${EXAMPLE_PROJECT}) is missing from the installation; reinstall Berth.`);
    return dir;
  }

  /** The Python version the example notebook records: the base image the first-run checklist asks about is named for it. */
  async function pythonVersion(): Promise<string> {
    const notebook = path.join(installedExample(), EXAMPLE_NOTEBOOK);
    const version = parseNotebook(await readFile(notebook, 'utf8'), EXAMPLE_NOTEBOOK).languageInfo?.version;
    if (!version) throw new BerthError('Internal', `${notebook} records no Python version; reinstall Berth.`);
    return version;
  }

  return { openExample, pythonVersion };
}

/** Copied beside the target, then renamed: an interrupted copy is never taken for a finished one. */
async function copyOnce(from: string, to: string): Promise<void> {
  const partial = `${to}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await copyWritable(from, partial);
  await rename(partial, to);
}

/** Read and written, not copied: a packaged file's read-only mode must not follow it into the user's copy. */
async function copyWritable(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const [src, dest] = [path.join(from, entry.name), path.join(to, entry.name)];
    if (entry.isDirectory()) await copyWritable(src, dest);
    else if (entry.isFile()) await writeFile(dest, await readFile(src));
  }
}

const exists = (p: string) => stat(p).then(() => true, () => false);
