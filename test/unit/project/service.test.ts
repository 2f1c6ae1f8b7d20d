import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { ProjectAnalysis } from '../../../shared/project';
import { createProjectService, type RunPython, type RunPythonRequest } from '../../../electron/main/services/project';
import type { InterpreterLookup } from '../../../electron/main/services/project/interpreter';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-svc-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (rel: string, text: string) => {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
};
const cell = (source: string, tags: string[] = [], outputs: unknown[] = []) => ({ cell_type: 'code', metadata: { tags }, source, outputs, execution_count: null });
const notebook = (cells: unknown[]) => JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });

const lookup: InterpreterLookup = {
  homeDir: '/nonexistent-home',
  env: { PATH: '/fake/bin' },
  platform: 'linux',
  exists: async (p) => p === '/fake/bin/python3',
  readFile: async () => null,
};

/** A stand-in for the project's interpreter: answers the helper's commands from the code it is given, crudely. */
function fakePython(overrides: Partial<Record<string, (input: any) => unknown>> = {}, version = '3.11.4'): RunPython & { calls: RunPythonRequest[] } {
  const calls: RunPythonRequest[] = [];
  const answer = (obj: unknown) => ({ exitCode: 0, signal: null, stdout: JSON.stringify(obj) + '\n', stderr: '', timedOut: false });
  const fn = (async (req: RunPythonRequest) => {
    calls.push(req);
    if (req.args[0] === '-c') return answer({ executable: req.interpreter, version });
    const command = req.args[2];
    const input = JSON.parse(req.stdin ?? '{}');
    if (overrides[command]) {
      const r = overrides[command]!(input);
      if (r && typeof r === 'object' && 'timedOut' in r) return r as any;
      return answer(r);
    }
    switch (command) {
      case 'code':
        return answer({
          results: input.sources.map((s: { id: string; code: string }) => ({
            id: s.id,
            functions: [...s.code.matchAll(/^def (\w+)\((\w*)/gm)].map((m) => ({ name: m[1], line: 1, params: m[2] ? [m[2]] : [], async: false })),
            assigned: [...s.code.matchAll(/^(\w+) =/gm)].map((m) => m[1]),
            imports: [],
            fileRefs: [],
            absolutePaths: [],
            training: [],
            loadedNames: [...s.code.matchAll(/\b(sample_input)\b/g)].map((m) => m[1]),
          })),
        });
      case 'imports':
        return answer({ imports: [], localFiles: [], distVersions: {} });
      case 'pickles':
        return answer({ files: [] });
      case 'sample':
        return answer({ ok: true, input: [[1, 2]], output: [0], outputText: '[0]', outputRepr: 'array([0])' });
    }
    throw new Error(`unexpected command ${command}`);
  }) as RunPython & { calls: RunPythonRequest[] };
  fn.calls = calls;
  return fn;
}

const service = (run: RunPython, extra = {}) =>
  createProjectService({ runPython: run, lookup, helperDir: '/helpers', now: () => new Date('2030-01-02T03:04:05Z'), ...extra });

const goodNotebook = () =>
  notebook([
    cell('import joblib\nmodel = 1\n'),
    cell('def helper(x):\n    return x\ndef predict(inputs):\n    return [0]'),
    cell('sample_input = [[1, 2]]', ['sample-input']),
    cell('print(predict(sample_input))', [], [{ output_type: 'stream', name: 'stdout', text: ['[0]\n'] }]),
  ]);

describe('project service (with a fake interpreter)', () => {
  it('returns an analysis that matches the shared schema', async () => {
    write('My Project/model.ipynb', goodNotebook());
    const run = fakePython();
    const a = await service(run).analyze(path.join(dir, 'My Project'));
    expect(ProjectAnalysis.parse(a)).toEqual(a);
    expect(a.name).toBe('my-project');
    expect(a.interpreter).toEqual({ path: '/fake/bin/python3', executable: '/fake/bin/python3', version: '3.11.4', source: 'path' });
    expect(a.entrypoint).toBe('predict');
    expect(a.functions.map((f) => f.name)).toEqual(['helper', 'predict']);
    expect(a.module.excludedCells).toEqual([
      { cell: 2, reason: 'sample-input' },
      { cell: 3, reason: 'uses-sample' },
    ]);
    expect(a.sample).toEqual({ cell: 2, variable: 'sample_input', input: [[1, 2]], expectedOutput: [0], outputText: '[0]', storedOutputText: '[0]\n' });
    expect(a.analyzedAt).toBe('2030-01-02T03:04:05.000Z');
    expect(a.findings).toEqual([]);
    // the sample ran in the notebook's folder with the module and the sample cell
    const sampleCall = run.calls.find((c) => c.args[2] === 'sample')!;
    expect(sampleCall.cwd).toBe(path.join(dir, 'My Project'));
    expect(sampleCall.timeoutMs).toBeLessThanOrEqual(60_000);
    const sampleInput = JSON.parse(sampleCall.stdin!);
    expect(sampleInput).toMatchObject({ sampleVar: 'sample_input', entrypoint: 'predict', sampleCode: 'sample_input = [[1, 2]]' });
    expect(sampleInput.moduleSource).toContain('def predict(inputs):');
    expect(sampleInput.moduleSource).not.toContain('sample_input');
  });

  it('throws ProjectInvalid with the JSON error position for an invalid notebook, before running Python', async () => {
    write('model.ipynb', '{"nbformat": 4,\n "cells": [}');
    const run = fakePython();
    const err = await service(run).analyze(dir).catch((e) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err.kind).toBe('ProjectInvalid');
    expect(err.message).toMatch(/^model\.ipynb is not valid JSON \(line 2, column 12: /);
    expect(run.calls).toEqual([]);
  });

  it('explains a folder without notebooks, a missing path and a file that is not a notebook', async () => {
    write('.ipynb_checkpoints/model-checkpoint.ipynb', goodNotebook());
    write('train.py', 'x = 1');
    const svc = service(fakePython());
    await expect(svc.analyze(dir)).rejects.toMatchObject({ kind: 'ProjectInvalid', message: expect.stringMatching(/^No notebook \(\.ipynb\) was found in/) });
    await expect(svc.analyze(path.join(dir, 'nope'))).rejects.toMatchObject({ kind: 'NotFound', message: expect.stringMatching(/does not exist\. Choose a project folder or a \.ipynb file\./) });
    await expect(svc.analyze(path.join(dir, 'train.py'))).rejects.toMatchObject({ kind: 'ValidationError' });
  });

  it('analyses a single .ipynb file: the project is its folder, the name its stem', async () => {
    write('Churn Model.ipynb', goodNotebook());
    write('other.ipynb', '{not json');
    const a = await service(fakePython()).analyze(path.join(dir, 'Churn Model.ipynb'));
    expect(a.root).toBe(dir);
    expect(a.name).toBe('churn-model');
    expect(a.notebooks.map((n) => n.path)).toEqual(['Churn Model.ipynb']);
  });

  it('picks the notebook that defines predict when there are several, and says so', async () => {
    write('a-explore.ipynb', notebook([cell('x = 1')]));
    write('serve.ipynb', goodNotebook());
    write('z.ipynb', '{bad');
    const a = await service(fakePython()).analyze(dir);
    expect(a.notebook).toBe('serve.ipynb');
    expect(a.findings.map((f) => [f.code, f.severity])).toEqual([
      ['invalid-notebook', 'warning'],
      ['several-notebooks', 'info'],
    ]);
    expect(a.findings[1].message).toBe('The project has 3 notebooks; Berth uses serve.ipynb. Choose another notebook if the model is served from a different one.');
    await expect(service(fakePython()).analyze(dir, { notebook: 'z.ipynb' })).rejects.toMatchObject({ kind: 'ProjectInvalid' });
    await expect(service(fakePython()).analyze(dir, { notebook: 'missing.ipynb' })).rejects.toMatchObject({ kind: 'ValidationError' });
  });

  it('serves the chosen entrypoint, rejects an unknown one, and reports a notebook without one', async () => {
    write('model.ipynb', goodNotebook());
    const a = await service(fakePython()).analyze(dir, { entrypoint: 'helper', evaluateSample: false });
    expect(a.entrypoint).toBe('helper');
    expect(a.sample).toBeNull();
    await expect(service(fakePython()).analyze(dir, { entrypoint: 'nope' })).rejects.toThrow(/has no top-level function `nope`.*Choose one of: helper, predict\./);

    write('model.ipynb', notebook([cell('def run(x):\n    return x')]));
    const b = await service(fakePython()).analyze(dir);
    expect(b.entrypoint).toBeNull();
    const f = b.findings.find((x) => x.code === 'no-entrypoint')!;
    expect(f.severity).toBe('error');
    expect(f.message).toBe(
      'model.ipynb defines no `predict`, `infer` or `score` function for Berth to serve. Choose the function to serve (one of: run), call it in the sample-input cell (e.g. `run(sample_input)`), or rename it to predict.',
    );
  });

  it('reports a sample that runs too long', async () => {
    write('model.ipynb', goodNotebook());
    const run = fakePython({ sample: () => ({ exitCode: null, signal: 'SIGKILL', stdout: '', stderr: '', timedOut: true }) });
    const a = await service(run, { timeouts: { sampleMs: 5000 } }).analyze(dir);
    const f = a.findings.find((x) => x.code === 'sample-failed')!;
    expect(f).toMatchObject({ severity: 'error', location: { file: 'model.ipynb', cell: 2 } });
    expect(f.message).toBe(
      "Running the notebook's served code with the sample did not finish within 5 s. If a cell trains a model, downloads data or waits for input, tag it `training` or `skip-deploy`, then analyse again.",
    );
    expect(run.calls.find((c) => c.args[2] === 'sample')!.timeoutMs).toBe(5000);
  });

  it('points a failure while loading the module at the cell and line it came from', async () => {
    write('model.ipynb', goodNotebook());
    // module: 2 header lines, blank, marker, then cell 0 (lines 5-6)
    const run = fakePython({
      sample: () => ({ ok: false, stage: 'module', error: "NameError: name 'X_test' is not defined", traceback: 'Traceback...\nNameError: name X_test', moduleLine: 6 }),
    });
    const a = await service(run).analyze(dir);
    const f = a.findings.find((x) => x.code === 'sample-failed')!;
    expect(f.location).toEqual({ file: 'model.ipynb', cell: 0, line: 2 });
    expect(f.message).toMatch(/^Cell 1 line 2: Loading the served module failed: NameError: name 'X_test' is not defined\. .*Tag cells that only explore or train `skip-deploy` or `training`/);
  });

  it('warns when the stored notebook output differs from what the model answers now', async () => {
    write('model.ipynb', goodNotebook());
    const run = fakePython({ sample: () => ({ ok: true, input: [[1, 2]], output: [2], outputText: '[2]', outputRepr: 'array([2])' }) });
    const a = await service(run).analyze(dir);
    const f = a.findings.find((x) => x.code === 'sample-output-differs')!;
    expect(f).toMatchObject({ severity: 'warning', location: { file: 'model.ipynb', cell: 3 } });
    expect(f.message).toBe(
      'When the notebook last ran, cell 4 showed `[0]` for the sample, but predict(sample_input) now gives `[2]`. The model file or the code may have changed since; run the notebook again from the top and save it, then analyse again.',
    );
  });

  it('warns when there is no sample-input cell', async () => {
    write('model.ipynb', notebook([cell('def predict(x):\n    return x')]));
    const a = await service(fakePython()).analyze(dir);
    expect(a.sample).toBeNull();
    const f = a.findings.find((x) => x.code === 'sample-missing')!;
    expect(f.severity).toBe('warning');
    expect(f.message).toBe(
      "model.ipynb has no cell tagged `sample-input`, so Berth cannot check the built container's answers against the notebook. Add a cell with an example request, e.g. `sample_input = [[5.1, 3.5, 1.4, 0.2]]`, and tag it `sample-input`.",
    );
  });

  it('refuses interpreters older than 3.8 and ones that do not run', async () => {
    write('model.ipynb', goodNotebook());
    await expect(service(fakePython({}, '3.7.9')).analyze(dir)).rejects.toMatchObject({
      kind: 'ValidationError',
      message: '/fake/bin/python3 is Python 3.7.9; Berth needs Python 3.8 or newer to analyse a project. Choose a newer interpreter for this project.',
    });
    const broken: RunPython = vi.fn(async () => ({ exitCode: 1, signal: null, stdout: '', stderr: 'Segmentation fault', timedOut: false }));
    await expect(service(broken).analyze(dir)).rejects.toMatchObject({ kind: 'NotFound', message: expect.stringContaining('did not run as a Python interpreter (Segmentation fault)') });
  });

  it('turns a helper crash into an Internal error with the helper message', async () => {
    write('model.ipynb', goodNotebook());
    const run = fakePython({ imports: () => ({ helperError: 'KeyError: x', traceback: 'tb' }) });
    await expect(service(run).analyze(dir)).rejects.toMatchObject({ kind: 'Internal', message: expect.stringContaining('KeyError: x') });
  });
});
