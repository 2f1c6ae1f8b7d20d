import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { blocksBuild, ProjectAnalysis } from '../../../shared/project';
import { createProjectService } from '../../../electron/main/services/project';
import { copyFixture, DEBIAN_PYTHON, FIXTURES, makeVenv, notebookJson, requireDebianPython, snapshot } from './support';

let versions: ReturnType<typeof requireDebianPython>;
const scratch: string[] = [];
beforeAll(() => {
  versions = requireDebianPython();
});
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

const service = createProjectService();
const debian = { interpreter: DEBIAN_PYTHON };

describe('sklearn-iris', () => {
  const root = path.join(FIXTURES, 'sklearn-iris');
  let a: ProjectAnalysis;
  let before: Record<string, string>;
  beforeAll(async () => {
    before = snapshot(root);
    a = await service.analyze(root, debian);
  });

  it('does not write anything into the project folder', () => {
    expect(snapshot(root)).toEqual(before);
  });

  it('describes the project and its interpreter', () => {
    expect(ProjectAnalysis.parse(a)).toEqual(a);
    expect(a.root).toBe(root);
    expect(a.name).toBe('sklearn-iris');
    expect(a.notebook).toBe('model.ipynb');
    expect(a.notebookHash).toBe(createHash('sha256').update(readFileSync(path.join(root, 'model.ipynb'))).digest('hex'));
    expect(a.interpreter).toMatchObject({ path: DEBIAN_PYTHON, source: 'override', version: versions.python });
    expect(a.pythonVersion).toMatch(/^3\.\d+\.\d+$/);
    expect(a.notebooks[0]).toMatchObject({ path: 'model.ipynb', cellCount: 5, codeCellCount: 4, kernelspec: { name: 'python3' } });
  });

  it('lists the functions and pre-selects predict', () => {
    expect(a.functions.map((f) => [f.name, f.cell, f.params])).toEqual([
      ['predict', 2, ['inputs']],
      ['describe', 2, ['inputs']],
    ]);
    expect(a.entrypoint).toBe('predict');
  });

  it('builds the module without the training, sample and sample-printing cells', () => {
    expect(a.module.excludedCells).toEqual([
      { cell: 1, reason: 'training' },
      { cell: 3, reason: 'sample-input' },
      { cell: 4, reason: 'uses-sample' },
    ]);
    expect(a.module.source).toContain('# %matplotlib inline\nimport joblib');
    expect(a.module.source).not.toContain('load_iris');
    expect(a.module.source).not.toContain('joblib.dump');
    const lines = a.module.source.split('\n');
    const [entry] = a.module.cellMap;
    expect(entry.cell).toBe(2);
    const cellLines = a.module.source.split('\n').slice(entry.startLine - 1, entry.endLine);
    expect(cellLines[0]).toBe('# %matplotlib inline');
    expect(lines[entry.startLine - 1 + a.functions[0].line - 1]).toBe('def predict(inputs):');
  });

  it('pins joblib, numpy and (through the pickled model) scikit-learn to the installed versions', () => {
    expect(a.dependencies.map((d) => d.requirement)).toEqual([
      `joblib==${versions.joblib}`,
      `numpy==${versions.numpy}`,
      `scikit-learn==${versions.sklearn}`,
    ]);
    const sk = a.dependencies.find((d) => d.name === 'scikit-learn')!;
    expect(sk).toMatchObject({ source: 'model-file', imports: ['sklearn'], why: ['needed to load model.joblib'] });
    expect(a.dependencies[0].why).toContain('import joblib (model.ipynb cell 3)');
  });

  it('finds the model file and reads its scikit-learn version without unpickling it', () => {
    expect(a.files.models).toHaveLength(1);
    expect(a.files.models[0]).toMatchObject({ path: 'model.joblib', projectPath: 'model.joblib', call: 'joblib.load', exists: true, lfsPointer: false });
    expect(a.files.models[0].pickle).toMatchObject({ sklearnVersions: [versions.sklearn], mainRefs: [] });
    expect(a.files.models[0].pickle!.modules).toContain('sklearn.linear_model._logistic');
  });

  it('evaluates the sample and the expected output in the project interpreter', () => {
    expect(a.sample).toEqual({
      cell: 3,
      variable: 'sample_input',
      input: [[5.1, 3.5, 1.4, 0.2]],
      expectedOutput: [0],
      outputText: '[0]',
      storedOutputText: '[0]\n',
    });
  });

  it('has nothing blocking the build', () => {
    expect(a.findings.filter(blocksBuild)).toEqual([]);
    expect(a.findings).toEqual([]);
  });

  it('produces a module that really serves predictions', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-module-'));
    scratch.push(dir);
    writeFileSync(path.join(dir, 'served.py'), a.module.source);
    const out = execFileSync(DEBIAN_PYTHON, ['-B', '-c', `import sys; sys.path.insert(0, ${JSON.stringify(dir)}); import served; print(served.predict([[6.7, 3.0, 5.2, 2.3]]).tolist())`], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('[2]');
  });

  it('can be analysed from the .ipynb file itself', async () => {
    const b = await service.analyze(path.join(root, 'model.ipynb'), { ...debian, evaluateSample: false });
    expect(b.name).toBe('model');
    expect(b.root).toBe(root);
    expect(b.sample).toBeNull();
  });
});

describe('pandas-pipeline', () => {
  const root = path.join(FIXTURES, 'pandas-pipeline');
  let a: ProjectAnalysis;
  let before: Record<string, string>;
  beforeAll(async () => {
    before = snapshot(root);
    a = await service.analyze(root, debian);
  });

  it('leaves the folder untouched (no __pycache__ from importing helpers.py)', () => {
    expect(snapshot(root)).toEqual(before);
  });

  it('pre-selects score and keeps the body of the %%time cell', () => {
    expect(a.entrypoint).toBe('score');
    expect(a.module.source).toContain("# %%time  (cell magic removed by Berth; the cell's code is kept)\nimport pickle");
    expect(a.module.source).toContain('def score(records):');
    expect(a.module.source).not.toContain('LogisticRegression().fit');
    expect(a.module.excludedCells).toEqual([
      { cell: 0, reason: 'empty' },
      { cell: 1, reason: 'empty' },
      { cell: 3, reason: 'training' },
      { cell: 6, reason: 'sample-input' },
      { cell: 7, reason: 'uses-sample' },
    ]);
  });

  it('merges %pip pins, requirements.txt and imports (including those of helpers.py)', () => {
    expect(a.localModules).toEqual(['helpers.py']);
    expect(a.dependencies.map((d) => [d.requirement, d.source])).toEqual([
      [`numpy==${versions.numpy}`, 'requirements'],
      [`pandas==${versions.pandas}`, 'requirements'],
      [`scikit-learn==${versions.sklearn}`, 'pip-magic'],
    ]);
    const byName = Object.fromEntries(a.dependencies.map((d) => [d.name, d.why]));
    expect(byName['scikit-learn']).toEqual(['%pip in cell 1', 'needed to load model.pkl']);
    expect(byName.numpy).toEqual(['requirements.txt line 2', 'import numpy (helpers.py line 2)', 'needed to load model.pkl']);
    expect(byName.pandas).toEqual(['requirements.txt line 1', 'import pandas (model.ipynb cell 3)']);
    expect(a.envFiles.found).toEqual(['requirements.txt']);
  });

  it('reports the shell line and the cell magic', () => {
    expect(a.findings.map((f) => [f.code, f.severity, f.location])).toEqual([
      ['shell-command', 'warning', { file: 'model.ipynb', cell: 1, line: 1 }],
      ['cell-magic', 'info', { file: 'model.ipynb', cell: 4, line: 1 }],
    ]);
    expect(a.findings[0].message).toMatch(/^Cell 2 line 1 runs the shell command `!ls data`; Berth commented it out/);
  });

  it('finds the model and the data file', () => {
    expect(a.files.models.map((f) => [f.projectPath, f.call, f.exists, f.pickle?.exact])).toEqual([['model.pkl', 'open', true, true]]);
    expect(a.files.data.map((f) => [f.projectPath, f.call, f.exists])).toEqual([['data/train.csv', 'pd.read_csv', true]]);
  });

  it('evaluates the sample through JSON, as the served model will receive it', () => {
    expect(a.sample).toMatchObject({
      input: [
        { tenure: 3, monthly: 95 },
        { tenure: 48, monthly: 20.5 },
      ],
      expectedOutput: ['churn', 'stay'],
      storedOutputText: "array(['churn', 'stay'], dtype=object)",
    });
  });
});

describe('broken', () => {
  const root = path.join(FIXTURES, 'broken');
  let a: ProjectAnalysis;
  beforeAll(async () => {
    a = await service.analyze(root, debian);
  });
  const find = (code: string) => {
    const f = a.findings.filter((x) => x.code === code);
    expect(f, `finding ${code}`).toHaveLength(1);
    return f[0];
  };

  it('reports every problem at once, errors first', () => {
    expect(a.findings.map((f) => `${f.severity}:${f.code}`)).toEqual([
      'error:training-at-start',
      'error:import-not-installed',
      'error:absolute-path',
      'error:lfs-pointer',
      'error:pickle-version-mismatch',
      'error:pickle-main-reference',
      'error:missing-file',
      'warning:python-version-mismatch',
      'warning:sample-missing',
    ]);
  });

  it('import-not-installed: lightgbm stays unresolved, never guessed', () => {
    const f = find('import-not-installed');
    expect(f.location).toEqual({ file: 'model.ipynb', cell: 0, line: 1 });
    expect(f.message).toBe(
      `\`lightgbm\` (imported in model.ipynb cell 1) is not installed in ${DEBIAN_PYTHON}, so Berth cannot tell which package and version the model needs. ` +
        `Install it there (\`${DEBIAN_PYTHON} -m pip install lightgbm\`), choose the interpreter the notebook runs with, or add it with a version to requirements.txt; then analyse again.`,
    );
    expect(a.dependencies.find((d) => d.name === 'lightgbm')).toMatchObject({ status: 'unresolved', requirement: null, version: null });
  });

  it('lfs-pointer', () => {
    expect(find('lfs-pointer').message).toBe(
      'model.joblib is a Git LFS pointer (a small text file that stands for the real one): its content was never downloaded. Run `git lfs pull` in the project folder, then analyse again.',
    );
  });

  it('absolute-path', () => {
    const f = find('absolute-path');
    expect(f.location).toEqual({ file: 'model.ipynb', cell: 1, line: 3 });
    expect(f.message).toBe(
      'model.ipynb cell 2 line 3 reads `/Users/alice/data/x.csv`, an absolute path on this computer; it does not exist inside the container. Copy the file into the project folder and use a relative path (for example `data/x.csv`).',
    );
  });

  it('missing-file', () => {
    expect(find('missing-file').message).toBe(
      'model.ipynb cell 3 line 5 reads `lookup.csv`, but there is no lookup.csv in the project folder. Add the file to the project folder (or fix the path), then analyse again.',
    );
  });

  it('pickle-main-reference', () => {
    expect(find('pickle-main-reference').message).toMatch(/^tokenizer\.pkl refers to `__main__\.tokenize`, something defined in the notebook itself\..*Move `tokenize` into a \.py file in the project/);
  });

  it('pickle-version-mismatch', () => {
    expect(find('pickle-version-mismatch').message).toBe(
      `scaler.joblib was saved with scikit-learn 1.0.2, but the project pins scikit-learn ${versions.sklearn}. A model pickled by one scikit-learn version can fail to load or predict differently in another. ` +
        `Re-run the training cell with scikit-learn ${versions.sklearn} to save it again, or pin the version it was saved with (\`%pip install scikit-learn==1.0.2\` in the notebook, or scikit-learn==1.0.2 in requirements.txt).`,
    );
  });

  it('training-at-start', () => {
    const f = find('training-at-start');
    expect(f.location).toEqual({ file: 'model.ipynb', cell: 1, line: 4 });
    expect(f.message).toMatch(/^Cell 2 trains when the module loads \(`LogisticRegression\(\)\.fit\(\.\.\.\)` on line 4\).*Tag the cell `training`/);
  });

  it('python-version-mismatch', () => {
    const [maj, min] = versions.python.split('.');
    expect(find('python-version-mismatch').message).toBe(
      `.python-version asks for Python 3.9, but the project's interpreter (${DEBIAN_PYTHON}) is Python ${versions.python}. Berth builds with ${versions.python}, the version the dependency versions were read from. ` +
        `Choose an interpreter that matches .python-version, or update .python-version to ${maj}.${min}.`,
    );
  });
});

describe('invalid-json', () => {
  it('throws ProjectInvalid with the parse position', async () => {
    const err = await service.analyze(path.join(FIXTURES, 'invalid-json'), debian).catch((e) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err.kind).toBe('ProjectInvalid');
    expect(err.message).toMatch(/^model\.ipynb is not valid JSON \(line 7, column 2: .*\)\. The file may be damaged or half-saved/);
    expect(err.detail).toMatchObject({ code: 'invalid-notebook', line: 7, column: 2 });
  });
});

describe('interpreters', () => {
  it("uses the project's .venv, and reports imports that interpreter lacks", async () => {
    const dir = copyFixture('sklearn-iris');
    scratch.push(dir);
    makeVenv(dir, false);
    const a = await service.analyze(dir);
    expect(a.interpreter.source).toBe('venv');
    expect(a.interpreter.path).toBe(path.join(dir, '.venv', 'bin', 'python'));
    const missing = a.findings.filter((f) => f.code === 'import-not-installed');
    expect(missing.map((f) => [f.subject, f.severity])).toEqual([
      ['joblib', 'error'],
      ['numpy', 'error'],
      ['sklearn', 'error'],
    ]);
    expect(missing[1].message).toContain(`is not installed in ${path.join(dir, '.venv', 'bin', 'python')}`);
    // found through the pickled model: the module itself never imports sklearn
    expect(missing[2].message).toMatch(/^`sklearn` \(imported by the pickled file model\.joblib\) is not installed in .*-m pip install scikit-learn`/);
    expect(a.dependencies.filter((d) => d.status === 'unresolved').map((d) => d.name)).toEqual(['joblib', 'numpy', 'sklearn']);
    // the sample cannot run without them, and says why
    const sample = a.findings.find((f) => f.code === 'sample-failed')!;
    expect(sample.severity).toBe('error');
    expect(sample.location).toEqual({ file: 'model.ipynb', cell: 2, line: 2 });
    expect(sample.message).toMatch(/^Cell 3 line 2: Loading the served module failed: ModuleNotFoundError: No module named 'joblib'/);
  });

  it('pins from a .venv that sees the system packages', async () => {
    const dir = copyFixture('sklearn-iris');
    scratch.push(dir);
    makeVenv(dir, true);
    const a = await service.analyze(dir);
    expect(a.interpreter.source).toBe('venv');
    expect(a.dependencies.map((d) => d.requirement)).toEqual([`joblib==${versions.joblib}`, `numpy==${versions.numpy}`, `scikit-learn==${versions.sklearn}`]);
    expect(a.findings).toEqual([]);
  });

  it('explains an interpreter that does not exist', async () => {
    await expect(service.analyze(path.join(FIXTURES, 'sklearn-iris'), { interpreter: '/nonexistent/bin/python3' })).rejects.toMatchObject({
      kind: 'NotFound',
      message: expect.stringContaining('The Python interpreter /nonexistent/bin/python3 could not be started (it does not exist)'),
    });
  });
});

describe('sample evaluation', () => {
  it('stops a sample that runs too long, and kills it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-slow-'));
    scratch.push(dir);
    const marker = path.join(dir, 'still-running');
    writeFileSync(
      path.join(dir, 'model.ipynb'),
      notebookJson([
        { source: `import time\ntime.sleep(4)\nopen(${JSON.stringify(marker)}, 'w').close()\ndef predict(x):\n    return x` },
        { source: 'sample_input = [1]', tags: ['sample-input'] },
      ]),
    );
    const svc = createProjectService({ timeouts: { sampleMs: 1500 } });
    const started = Date.now();
    const a = await svc.analyze(dir, debian);
    expect(Date.now() - started).toBeLessThan(4000);
    const f = a.findings.find((x) => x.code === 'sample-failed')!;
    expect(f.message).toMatch(/^Running the notebook's served code with the sample did not finish within 1\.5 s\./);
    await new Promise((r) => setTimeout(r, 4000));
    expect(() => readFileSync(marker)).toThrow(); // the process was killed before it could finish
  });

  it('reports a failing entrypoint with the line in the notebook', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-fail-'));
    scratch.push(dir);
    writeFileSync(
      path.join(dir, 'model.ipynb'),
      notebookJson([
        { source: 'x = 1' },
        { source: 'def predict(rows):\n    total = 0\n    return [r["missing"] for r in rows]' },
        { source: 'sample_input = [{"a": 1}]', tags: ['sample-input'] },
      ]),
    );
    const a = await service.analyze(dir, debian);
    const f = a.findings.find((x) => x.code === 'sample-failed')!;
    expect(f.location).toEqual({ file: 'model.ipynb', cell: 1, line: 3 });
    expect(f.message).toMatch(/^Cell 2 line 3: predict\(sample_input\) failed: KeyError: 'missing'\. Fix the function/);
  });

  it('reports a sample that is not JSON and an answer that is not JSON', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-json-'));
    scratch.push(dir);
    writeFileSync(
      path.join(dir, 'model.ipynb'),
      notebookJson([{ source: 'def predict(rows):\n    return object()' }, { source: 'sample_input = [1, 2]', tags: ['sample-input'] }]),
    );
    const a = await service.analyze(dir, debian);
    expect(a.findings.find((x) => x.code === 'sample-failed')!.message).toBe(
      'The answer of predict cannot be turned into JSON: result is a object, which has no JSON form. Return lists, dicts, numbers, strings, or numpy/pandas values.',
    );
    writeFileSync(
      path.join(dir, 'model.ipynb'),
      notebookJson([{ source: 'def predict(rows):\n    return rows' }, { source: 'sample_input = {1, object()}', tags: ['sample-input'] }]),
    );
    const b = await service.analyze(dir, debian);
    expect(b.findings.find((x) => x.code === 'sample-failed')!.message).toMatch(/^The sample cannot be sent as JSON: sample_input is a object, which has no JSON form\./);
  });
});

describe('sample evaluation that ends the process', () => {
  it('reports code that exits the interpreter instead of failing the analysis', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-exit-'));
    scratch.push(dir);
    writeFileSync(
      path.join(dir, 'model.ipynb'),
      notebookJson([
        { source: 'import os, sys\nprint("bye", file=sys.stderr)\nos._exit(3)\ndef predict(x):\n    return x' },
        { source: 'sample_input = [1]', tags: ['sample-input'] },
      ]),
    );
    const a = await service.analyze(dir, debian);
    const f = a.findings.find((x) => x.code === 'sample-failed')!;
    expect(f.message).toBe(
      "Running the notebook's served code with the sample ended the program without an answer (exit code 3). Code that calls exit() or crashes Python must not run when the module loads: tag such cells `skip-deploy`, then analyse again.\nbye",
    );
  });

  it('does not wait for threads the served code leaves running', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-thread-'));
    scratch.push(dir);
    writeFileSync(
      path.join(dir, 'model.ipynb'),
      notebookJson([
        { source: 'import threading, time\nthreading.Thread(target=time.sleep, args=(30,)).start()\ndef predict(x):\n    return [v * 2 for v in x]' },
        { source: 'sample_input = [1, 2]', tags: ['sample-input'] },
      ]),
    );
    const started = Date.now();
    const a = await service.analyze(dir, debian);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(a.sample?.expectedOutput).toEqual([2, 4]);
  });
});
