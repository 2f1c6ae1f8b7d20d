import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type { InterpreterSource } from '../../../../shared/project';

/** What interpreter discovery may look at; tests pass a fake. */
export interface InterpreterLookup {
  homeDir: string;
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
  /** True when something (even a dangling link) is at `p`. */
  exists(p: string): Promise<boolean>;
  readFile(p: string): Promise<string | null>;
}

export const systemLookup = (): InterpreterLookup => ({
  homeDir: os.homedir(),
  env: process.env,
  platform: process.platform,
  exists: async (p) => {
    try {
      await fs.lstat(p);
      return true;
    } catch {
      return false;
    }
  },
  readFile: async (p) => {
    try {
      return await fs.readFile(p, 'utf8');
    } catch {
      return null;
    }
  },
});

export interface InterpreterChoice {
  path: string;
  source: InterpreterSource;
}

export interface FindInterpreterInput {
  root: string;
  notebookDir: string;
  override?: string;
  condaEnvName?: string | null;
  kernelName?: string | null;
}

export function venvPython(dir: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

/** The interpreter of an installation prefix: a conda environment, a pyenv version. */
export function prefixPython(prefix: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.join(prefix, 'python.exe') : path.join(prefix, 'bin', 'python');
}

/** argv[0] of a kernel.json when it is an absolute path (a bare `python` just means "whatever is on PATH"). */
export function kernelExecutable(kernelJson: string | null): string | null {
  if (!kernelJson) return null;
  try {
    const spec = JSON.parse(kernelJson) as { argv?: unknown };
    const exe = Array.isArray(spec.argv) && typeof spec.argv[0] === 'string' ? spec.argv[0] : null;
    return exe && path.isAbsolute(exe) ? exe : null;
  } catch {
    return null;
  }
}

/** Folders that hold conda installations (each with an `envs/` folder). */
export function condaRoots(look: InterpreterLookup): string[] {
  const h = look.homeDir;
  const roots: string[] = [];
  const prefix = look.env.CONDA_PREFIX;
  if (prefix) {
    const i = prefix.lastIndexOf(`${path.sep}envs${path.sep}`);
    roots.push(i >= 0 ? prefix.slice(0, i) : prefix);
  }
  if (look.env.CONDA_EXE) roots.push(path.dirname(path.dirname(look.env.CONDA_EXE)));
  if (look.env.MAMBA_ROOT_PREFIX) roots.push(look.env.MAMBA_ROOT_PREFIX);
  for (const n of ['miniconda3', 'anaconda3', 'miniforge3', 'mambaforge', 'micromamba', '.conda', 'opt/miniconda3', 'opt/anaconda3', 'opt/miniforge3']) {
    roots.push(path.join(h, n));
  }
  roots.push('/opt/conda', '/opt/miniconda3', '/opt/anaconda3', '/opt/miniforge3', '/usr/local/miniconda3', '/usr/local/anaconda3');
  return [...new Set(roots)];
}

/** Folders that hold Jupyter kernelspecs. */
export function kernelDirs(look: InterpreterLookup): string[] {
  const h = look.homeDir;
  const dirs: string[] = [];
  for (const p of (look.env.JUPYTER_PATH ?? '').split(path.delimiter).filter(Boolean)) dirs.push(path.join(p, 'kernels'));
  if (look.env.JUPYTER_DATA_DIR) dirs.push(path.join(look.env.JUPYTER_DATA_DIR, 'kernels'));
  dirs.push(path.join(h, '.local', 'share', 'jupyter', 'kernels'), path.join(h, 'Library', 'Jupyter', 'kernels'));
  if (look.env.APPDATA) dirs.push(path.join(look.env.APPDATA, 'jupyter', 'kernels'));
  if (look.env.CONDA_PREFIX) dirs.push(path.join(look.env.CONDA_PREFIX, 'share', 'jupyter', 'kernels'));
  dirs.push('/usr/local/share/jupyter/kernels', '/usr/share/jupyter/kernels');
  return [...new Set(dirs)];
}

async function onPath(names: string[], look: InterpreterLookup): Promise<string | null> {
  const exts = look.platform === 'win32' ? ['.exe', ''] : [''];
  for (const name of names) {
    for (const dir of (look.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      for (const ext of exts) {
        const p = path.join(dir, name + ext);
        if (await look.exists(p)) return p;
      }
    }
  }
  return null;
}

/**
 * The project's interpreter, in this order: the user's choice; `.venv`/`venv` in the project (or next to the notebook);
 * the conda environment named in environment.yml; the notebook kernelspec's interpreter; `python3` on PATH.
 */
export async function findInterpreter(input: FindInterpreterInput, look: InterpreterLookup): Promise<InterpreterChoice> {
  if (input.override) {
    const o = input.override;
    if (o.includes('/') || o.includes('\\')) return { path: path.resolve(input.root, o), source: 'override' };
    const found = await onPath([o], look);
    if (!found) {
      throw new BerthError('NotFound', `The interpreter "${o}" was not found on PATH. Give the full path of the Python executable instead.`);
    }
    return { path: found, source: 'override' };
  }

  for (const base of [...new Set([input.root, input.notebookDir])]) {
    for (const name of ['.venv', 'venv']) {
      const p = venvPython(path.join(base, name), look.platform);
      if (await look.exists(p)) return { path: p, source: 'venv' };
    }
  }

  if (input.condaEnvName) {
    for (const root of condaRoots(look)) {
      const envDir = input.condaEnvName === 'base' ? root : path.join(root, 'envs', input.condaEnvName);
      const p = prefixPython(envDir, look.platform);
      if (await look.exists(p)) return { path: p, source: 'conda' };
    }
  }

  if (input.kernelName) {
    for (const dir of kernelDirs(look)) {
      // a bare `python` is handled below, with PATH; an unreadable kernelspec means: try the next
      const exe = kernelExecutable(await look.readFile(path.join(dir, input.kernelName, 'kernel.json')));
      if (exe && (await look.exists(exe))) return { path: exe, source: 'kernelspec' };
    }
  }

  const found = await onPath(look.platform === 'win32' ? ['python', 'python3'] : ['python3', 'python'], look);
  if (found) return { path: found, source: 'path' };
  throw new BerthError(
    'NotFound',
    'No Python interpreter was found for this project: there is no .venv or venv folder in it, no conda environment from environment.yml, ' +
      'and no python3 on PATH. Choose the interpreter you run the notebook with (the kernel\'s Python).',
  );
}
