import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Folders never searched: checkpoints, environments, VCS data, caches. */
export const IGNORED_DIRS = new Set([
  '.ipynb_checkpoints',
  '.venv',
  'venv',
  'node_modules',
  '.git',
  '__pycache__',
  '.hg',
  '.svn',
  '.tox',
  '.nox',
  '.mypy_cache',
  '.pytest_cache',
  '.ruff_cache',
  'site-packages',
]);

export const LFS_HEADER = 'version https://git-lfs.github.com/spec/v1';

export interface ProjectScan {
  root: string;
  /** Notebooks, relative posix paths, sorted. */
  notebooks: string[];
  /** Files small enough to be Git LFS pointers (relative posix paths). */
  smallFiles: string[];
  /** True when the walk stopped early because the folder is huge. */
  truncated: boolean;
}

const MAX_FILES = 20_000;
const MAX_DEPTH = 8;

export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

async function isEnvironmentDir(dir: string): Promise<boolean> {
  for (const marker of ['pyvenv.cfg', 'conda-meta']) {
    try {
      await fs.access(path.join(dir, marker));
      return true;
    } catch {
      /* not this one */
    }
  }
  return false;
}

/** Walks the project folder (read-only), skipping hidden folders, environments and caches. */
export async function scanProject(root: string): Promise<ProjectScan> {
  const notebooks: string[] = [];
  const smallFiles: string[] = [];
  let count = 0;
  let truncated = false;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (truncated) return;
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return; // unreadable folder: nothing to learn from it
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (IGNORED_DIRS.has(e.name) || e.name.startsWith('.') || depth >= MAX_DEPTH) continue;
        if (await isEnvironmentDir(full)) continue;
        await walk(full, depth + 1);
      } else if (e.isFile()) {
        if (++count > MAX_FILES) {
          truncated = true;
          return;
        }
        const rel = toPosix(path.relative(root, full));
        if (e.name.endsWith('.ipynb')) notebooks.push(rel);
        try {
          const st = await fs.stat(full);
          if (st.size <= 1024) smallFiles.push(rel);
        } catch {
          /* vanished */
        }
      }
    }
  };
  await walk(root, 0);
  notebooks.sort();
  return { root, notebooks, smallFiles, truncated };
}

/** True when the file at `full` is a Git LFS pointer (the real content was never pulled). */
export async function isLfsPointer(full: string): Promise<boolean> {
  let fh;
  try {
    fh = await fs.open(full, 'r');
    const buf = Buffer.alloc(LFS_HEADER.length);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return bytesRead === buf.length && buf.toString('utf8') === LFS_HEADER;
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

/** Lower-case slug of [a-z0-9-] for image and service names. */
export function slugify(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
  return s || 'project';
}
