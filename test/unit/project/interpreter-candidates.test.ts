import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createProjectService, type RunPython, type RunPythonRequest } from '../../../electron/main/services/project';
import {
  type CandidateLookup,
  interpretersWith,
  listInterpreterCandidates,
  MAX_CANDIDATES,
} from '../../../electron/main/services/project/interpreter-candidates';

/** A posix file tree: files (with their text), symbolic links (relative targets resolve against the link's folder). */
function fakeLookup(files: Record<string, string>, links: Record<string, string>, env: Record<string, string> = {}): CandidateLookup {
  const resolve = (p: string): string => {
    let out = '/';
    for (const part of p.split('/').filter(Boolean)) {
      out = path.posix.join(out, part);
      for (let hops = 0; links[out] && hops < 10; hops++) out = path.posix.resolve(path.posix.dirname(out), links[out]);
    }
    return out;
  };
  const dirs = new Set([...Object.keys(files), ...Object.keys(links)].flatMap((f) => f.split('/').slice(1, -1).map((_, i, parts) => '/' + parts.slice(0, i + 1).join('/'))));
  const children = (dir: string) => [...new Set([...Object.keys(files), ...Object.keys(links), ...dirs].filter((p) => path.posix.dirname(p) === dir).map((p) => path.posix.basename(p)))];
  const present = (p: string) => resolve(p) in files || dirs.has(resolve(p)) || resolve(p) === '/';
  return {
    homeDir: '/home/ada',
    env: { PATH: '/home/ada/.pyenv/shims:/usr/local/bin:/usr/bin:/bin', ...env },
    platform: 'linux',
    exists: async (p) => present(p),
    readFile: async (p) => files[resolve(p)] ?? null,
    listDir: async (p) => (dirs.has(resolve(p)) ? children(resolve(p)) : []),
    realPath: async (p) => (present(p) ? resolve(p) : null),
  };
}

const machine = fakeLookup(
  {
    '/usr/bin/python3.11': '',
    '/usr/local/bin/python3': '',
    '/work/p/model.ipynb': '{}',
    '/work/p/.venv/pyvenv.cfg': 'home = /usr/bin',
    '/work/p/data/iris.csv': '',
    '/work/tools/pyvenv.cfg': 'home = /usr/bin',
    '/work/notes/todo.txt': '',
    '/home/ada/miniforge3/bin/python': '',
    '/home/ada/miniforge3/envs/iris/bin/python': '',
    '/home/ada/miniforge3/envs/ds/bin/python': '',
    '/home/ada/.pyenv/versions/3.9.18/bin/python3.9': '',
    '/home/ada/.pyenv/versions/3.12.1/bin/python3.12': '',
    '/home/ada/.pyenv/versions/3.11.7/bin/python3.11': '',
    '/home/ada/.pyenv/shims/python3': '#!/bin/sh',
    '/home/ada/.local/share/jupyter/kernels/ds/kernel.json': JSON.stringify({ argv: ['/home/ada/miniforge3/envs/ds/bin/python', '-m', 'ipykernel_launcher'] }),
    '/home/ada/.local/share/jupyter/kernels/gone/kernel.json': JSON.stringify({ argv: ['/opt/gone/bin/python', '-m', 'ipykernel_launcher'] }),
    '/usr/share/jupyter/kernels/python3/kernel.json': JSON.stringify({ argv: ['python3', '-m', 'ipykernel_launcher'] }),
  },
  {
    '/bin': 'usr/bin',
    '/usr/bin/python3': 'python3.11',
    // virtualenvs link to their base interpreter, yet see other packages
    '/work/p/.venv/bin/python': '/usr/bin/python3',
    '/work/tools/bin/python': '/usr/bin/python3',
    '/home/ada/.pyenv/versions/3.9.18/bin/python': 'python3.9',
    '/home/ada/.pyenv/versions/3.12.1/bin/python': 'python3.12',
    '/home/ada/.pyenv/versions/3.11.7/bin/python': 'python3.11',
    '/home/ada/.pyenv/versions/3.11.7/bin/python3': 'python3.11',
  },
);

describe('listInterpreterCandidates', () => {
  it('lists virtualenvs, the system python, conda, pyenv, kernels and PATH once each, without the analysed interpreter', async () => {
    const input = { root: '/work/p', notebookDir: '/work/p', exclude: ['/home/ada/.pyenv/versions/3.11.7/bin/python3'] };
    expect(await listInterpreterCandidates(input, machine)).toEqual([
      { path: '/work/p/.venv/bin/python', label: 'virtualenv .venv in the project' },
      { path: '/work/tools/bin/python', label: 'virtualenv tools beside the project' },
      { path: '/usr/bin/python3', label: 'system' },
      { path: '/home/ada/miniforge3/bin/python', label: 'conda base' },
      { path: '/home/ada/miniforge3/envs/ds/bin/python', label: 'conda env ds' },
      { path: '/home/ada/miniforge3/envs/iris/bin/python', label: 'conda env iris' },
      { path: '/home/ada/.pyenv/versions/3.12.1/bin/python', label: 'pyenv 3.12.1' },
      { path: '/home/ada/.pyenv/versions/3.9.18/bin/python', label: 'pyenv 3.9.18' },
      // the kernels name a conda env already listed, a missing interpreter and PATH's; /usr/bin and /bin hold the system one
      { path: '/usr/local/bin/python3', label: 'on PATH' },
    ]);
  });

  it('stops at MAX_CANDIDATES', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`/home/ada/miniconda3/envs/e${i}/bin/python`] = '';
    const found = await listInterpreterCandidates({ root: '/p', notebookDir: '/p', exclude: [] }, fakeLookup(files, {}, { PATH: '' }));
    expect(found).toHaveLength(MAX_CANDIDATES);
    expect(found.every((c) => c.label.startsWith('conda env e'))).toBe(true);
  });
});

const answer = (obj: unknown) => ({ exitCode: 0, signal: null, stdout: JSON.stringify(obj) + '\n', stderr: '', timedOut: false });
type Entry = { kind: string; distributions?: { name: string; version: string | null }[] };

/** Answers the helper's `imports` step per interpreter; `entries` gives each one's packages by import name. */
function fakeImports(entries: Record<string, Record<string, Entry> | 'timeout' | 'crash'>) {
  const calls: RunPythonRequest[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const run: RunPython = async (req) => {
    calls.push(req);
    running++;
    mostAtOnce = Math.max(mostAtOnce, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    const mine = entries[req.interpreter];
    if (mine === 'timeout') return { exitCode: null, signal: 'SIGKILL', stdout: '', stderr: '', timedOut: true };
    if (mine === 'crash') return { exitCode: 1, signal: null, stdout: '', stderr: "ModuleNotFoundError: No module named 'importlib.metadata'", timedOut: false };
    const { imports } = JSON.parse(req.stdin!) as { imports: { module: string }[] };
    return answer({ imports: imports.map(({ module }) => ({ name: module, modules: [module], refs: [], ...(mine[module] ?? { kind: 'unresolved' }) })) });
  };
  return { run, calls, mostAtOnce: () => mostAtOnce };
}

const installed = (name: string, version: string): Entry => ({ kind: 'installed', distributions: [{ name, version }] });

describe('interpretersWith', () => {
  it('keeps the interpreters that have every missing import, with the versions there, asking a few at a time', async () => {
    const fake = fakeImports({
      '/ds': { sklearn: installed('scikit-learn', '1.2.1'), joblib: installed('joblib', '1.2.0') },
      '/half': { sklearn: installed('scikit-learn', '1.4.0') },
      '/two-providers': { sklearn: installed('scikit-learn', '1.3.0'), joblib: { kind: 'ambiguous', distributions: [{ name: 'joblib', version: '1' }, { name: 'joblib-fork', version: '2' }] } },
      '/slow': 'timeout',
      '/py37': 'crash',
      '/sys': { sklearn: installed('scikit-learn', '1.2.1'), joblib: installed('joblib', '1.2.0') },
    });
    const candidates = ['/ds', '/half', '/two-providers', '/slow', '/py37', '/sys'].map((p) => ({ path: p, label: `at ${p}` }));
    const found = await interpretersWith(['sklearn', 'joblib'], candidates, { run: fake.run, helperDir: '/helpers', cwd: '/work/p', concurrency: 2 });
    const packages = [
      { name: 'scikit-learn', version: '1.2.1' },
      { name: 'joblib', version: '1.2.0' },
    ];
    expect(found).toEqual([
      { path: '/ds', label: 'at /ds', packages },
      { path: '/sys', label: 'at /sys', packages },
    ]);
    expect(fake.calls).toHaveLength(6);
    expect(fake.mostAtOnce()).toBe(2);
    expect(fake.calls[0].args).toEqual(['-B', path.join('/helpers', 'berth_project.py'), 'imports']);
    expect(fake.calls[0].timeoutMs).toBeLessThanOrEqual(10_000);
  });
});

describe('project analysis with a missing package', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The project's interpreter (/fake/bin/python3) lacks joblib; /home/ada/miniforge3/envs/ds has it. */
  function fakePython(projectHasJoblib: boolean) {
    const joblibIn: Record<string, boolean> = { '/fake/bin/python3': projectHasJoblib, '/home/ada/miniforge3/envs/ds/bin/python': true };
    const calls: RunPythonRequest[] = [];
    const run: RunPython = async (req) => {
      calls.push(req);
      if (req.args[0] === '-c') return answer({ executable: req.interpreter, version: '3.11.4' });
      const input = JSON.parse(req.stdin ?? '{}');
      switch (req.args[2]) {
        case 'code':
          return answer({
            results: input.sources.map((s: { id: string; code: string }) => ({
              id: s.id,
              functions: s.code.includes('def predict') ? [{ name: 'predict', line: 2, params: ['x'], async: false }] : [],
              assigned: s.code.startsWith('sample_input') ? ['sample_input'] : [],
              imports: s.code.startsWith('import joblib') ? [{ module: 'joblib', line: 1, level: 0 }] : [],
            })),
          });
        case 'imports': {
          const has = joblibIn[req.interpreter] ?? false;
          const imports = (input.imports as { module: string; ref: unknown }[]).map(({ module, ref }) => ({
            name: module,
            modules: [module],
            refs: ref ? [ref] : [],
            ...(has ? installed('joblib', '1.2.0') : { kind: 'unresolved', importable: false }),
          }));
          return answer({ imports, localFiles: [], distVersions: {} });
        }
        case 'pickles':
          return answer({ files: [] });
        case 'sample':
          return answer({ ok: true, input: [1], output: [0], outputText: '[0]', outputRepr: '[0]' });
      }
      throw new Error(`unexpected ${req.args.join(' ')}`);
    };
    return { run, calls };
  }

  async function analyse(projectHasJoblib: boolean) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-others-'));
    const cell = (source: string, tags: string[] = []) => ({ cell_type: 'code', metadata: { tags }, source, outputs: [], execution_count: null });
    writeFileSync(path.join(dir, 'model.ipynb'), JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell('import joblib\ndef predict(x):\n    return [0]'), cell('sample_input = [1]', ['sample-input'])] }));
    const fake = fakePython(projectHasJoblib);
    const lookup = fakeLookup({ '/fake/bin/python3': '', '/home/ada/miniforge3/envs/ds/bin/python': '', '/usr/bin/python3': '' }, {}, { PATH: '/fake/bin' });
    const service = createProjectService({ runPython: fake.run, lookup, candidateLookup: lookup, helperDir: '/helpers' });
    return { analysis: await service.analyze(dir), asked: fake.calls.map((c) => c.interpreter).filter((p) => p !== '/fake/bin/python3') };
  }

  it('offers the interpreters that have it', async () => {
    const { analysis, asked } = await analyse(false);
    expect(analysis.findings.map((f) => f.code)).toContain('import-not-installed');
    expect(analysis.otherInterpreters).toEqual([{ path: '/home/ada/miniforge3/envs/ds/bin/python', label: 'conda env ds', packages: [{ name: 'joblib', version: '1.2.0' }] }]);
    expect(asked).toEqual(['/usr/bin/python3', '/home/ada/miniforge3/envs/ds/bin/python']);
  });

  it('asks no other interpreter when nothing is missing', async () => {
    const { analysis, asked } = await analyse(true);
    expect(analysis.otherInterpreters).toBeUndefined();
    expect(asked).toEqual([]);
  });
});
