/**
 * Other interpreters on this computer, for when the project's one lacks the notebook's packages:
 * Berth lists the ones it can find and asks each which of the missing imports it has.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { OtherInterpreter } from '../../../../shared/project';
import type { ImportEntry } from './dependencies';
import { condaRoots, type InterpreterLookup, kernelDirs, kernelExecutable, prefixPython, systemLookup, venvPython } from './interpreter';
import { callHelper, type RunPython } from './python';

/** What interpreter discovery looks at, plus folder listings and links. Tests pass a fake. */
export interface CandidateLookup extends InterpreterLookup {
  /** The names in a folder, [] when it cannot be read. */
  listDir(p: string): Promise<string[]>;
  /** The path with every link resolved, or null when nothing is there. */
  realPath(p: string): Promise<string | null>;
}

export const systemCandidateLookup = (): CandidateLookup => ({
  ...systemLookup(),
  listDir: async (p) => {
    try {
      return await fs.readdir(p);
    } catch {
      return [];
    }
  },
  realPath: async (p) => {
    try {
      return await fs.realpath(p);
    } catch {
      return null;
    }
  },
});

export interface InterpreterCandidate {
  path: string;
  /** Where it was found: "system", "conda env ds", "virtualenv .venv beside the project", ... */
  label: string;
}

/** Enough for a crowded machine, few enough to ask them all within seconds. */
export const MAX_CANDIDATES = 30;
export const CANDIDATE_PROBE_MS = 5_000;
export const CANDIDATE_CONCURRENCY = 4;

export interface ListCandidatesInput {
  root: string;
  notebookDir: string;
  /** The interpreter already analysed (its path and sys.executable): never offered again. */
  exclude: string[];
}

/**
 * The interpreters Berth can find, in this order: virtualenvs in and beside the project, the system's python3,
 * conda base and envs, pyenv versions (newest first), Jupyter kernels, python3/python on PATH; one entry per interpreter, at most MAX_CANDIDATES.
 */
export async function listInterpreterCandidates(input: ListCandidatesInput, look: CandidateLookup): Promise<InterpreterCandidate[]> {
  const found = [
    ...(await projectVenvs(input.root, input.notebookDir, look)),
    ...systemPythons(look),
    ...(await condaEnvs(look)),
    ...(await pyenvVersions(look)),
    ...(await kernelPythons(look)),
    ...pathPythons(look),
  ];
  const seen = new Set(await Promise.all(input.exclude.map((p) => identity(p, look))));
  const out: InterpreterCandidate[] = [];
  for (const c of found) {
    if (out.length >= MAX_CANDIDATES) break;
    const id = await identity(c.path, look);
    if (id === null || seen.has(id)) continue;
    seen.add(id);
    out.push(c);
  }
  return out;
}

/**
 * Which interpreter a path runs, or null when there is none. Not the real path alone: a virtualenv's python links to
 * its base interpreter, and the folder it is started from (its pyvenv.cfg) decides which packages it sees.
 */
async function identity(p: string, look: CandidateLookup): Promise<string | null> {
  const real = await look.realPath(p);
  return real === null ? null : `${await look.realPath(path.dirname(p))}\0${real}`;
}

async function projectVenvs(root: string, notebookDir: string, look: CandidateLookup): Promise<InterpreterCandidate[]> {
  const out: InterpreterCandidate[] = [];
  const places: [string, string][] = [
    [notebookDir, 'in the project'],
    [root, 'in the project'],
    [path.dirname(root), 'beside the project'],
  ];
  for (const [base, where] of places) {
    for (const name of (await look.listDir(base)).sort()) {
      const dir = path.join(base, name);
      if (await look.exists(path.join(dir, 'pyvenv.cfg'))) out.push({ path: venvPython(dir, look.platform), label: `virtualenv ${name} ${where}` });
    }
  }
  return out;
}

function systemPythons(look: CandidateLookup): InterpreterCandidate[] {
  return look.platform === 'win32' ? [] : [{ path: '/usr/bin/python3', label: 'system' }];
}

async function condaEnvs(look: CandidateLookup): Promise<InterpreterCandidate[]> {
  const out: InterpreterCandidate[] = [];
  for (const root of condaRoots(look)) {
    out.push({ path: prefixPython(root, look.platform), label: 'conda base' });
    for (const name of (await look.listDir(path.join(root, 'envs'))).sort()) {
      out.push({ path: prefixPython(path.join(root, 'envs', name), look.platform), label: `conda env ${name}` });
    }
  }
  return out;
}

async function pyenvVersions(look: CandidateLookup): Promise<InterpreterCandidate[]> {
  const versions = path.join(look.env.PYENV_ROOT ?? path.join(look.homeDir, '.pyenv'), 'versions');
  const names = (await look.listDir(versions)).sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  return names.map((v) => ({ path: prefixPython(path.join(versions, v), look.platform), label: `pyenv ${v}` }));
}

async function kernelPythons(look: CandidateLookup): Promise<InterpreterCandidate[]> {
  const out: InterpreterCandidate[] = [];
  for (const dir of kernelDirs(look)) {
    for (const name of (await look.listDir(dir)).sort()) {
      const exe = kernelExecutable(await look.readFile(path.join(dir, name, 'kernel.json')));
      if (exe) out.push({ path: exe, label: `Jupyter kernel ${name}` });
    }
  }
  return out;
}

function pathPythons(look: CandidateLookup): InterpreterCandidate[] {
  const names = look.platform === 'win32' ? ['python.exe', 'python3.exe'] : ['python3', 'python'];
  return (look.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    // pyenv's (and asdf's) shims only forward to a version listed above or to the one analysed
    .filter((dir) => path.basename(dir) !== 'shims')
    .flatMap((dir) => names.map((n) => ({ path: path.join(dir, n), label: 'on PATH' })));
}

export interface ProbeOptions {
  run: RunPython;
  helperDir: string;
  cwd: string;
  timeoutMs?: number;
  concurrency?: number;
}

/** The candidates that have every one of `imports` installed, with the versions of the distributions that provide them. */
export async function interpretersWith(imports: string[], candidates: InterpreterCandidate[], opts: ProbeOptions): Promise<OtherInterpreter[]> {
  const packages = await mapBounded(candidates, opts.concurrency ?? CANDIDATE_CONCURRENCY, (c) => packagesIn(c.path, imports, opts));
  return candidates.flatMap((c, i) => {
    const found = packages[i];
    return found ? [{ ...c, packages: found }] : [];
  });
}

/**
 * Asks the interpreter (with the helper's `imports` step, which only locates modules) for the distributions providing
 * `imports`; null when one is missing, or when it cannot run the helper (Python < 3.8, broken, too slow).
 */
async function packagesIn(interpreter: string, imports: string[], opts: ProbeOptions): Promise<OtherInterpreter['packages'] | null> {
  let entries: ImportEntry[];
  try {
    const input = { searchDirs: [], root: opts.cwd, imports: imports.map((module) => ({ module, ref: null })) };
    const call = { interpreter, command: 'imports' as const, input, cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? CANDIDATE_PROBE_MS };
    entries = (await callHelper<{ imports: ImportEntry[] }>(opts.run, opts.helperDir, call)).result.imports;
  } catch {
    return null;
  }
  const packages = new Map<string, string | null>();
  for (const name of imports) {
    const entry = entries.find((e) => e.name === name);
    // one providing distribution, so that analysing with this interpreter can pin it
    const dist = entry?.kind === 'installed' ? entry.distributions?.[0] : undefined;
    if (!dist) return null;
    packages.set(dist.name, dist.version);
  }
  return [...packages].map(([name, version]) => ({ name, version }));
}

/** Like Promise.all over items.map(fn), with at most `limit` calls running at once. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
