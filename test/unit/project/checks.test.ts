import { describe, expect, it } from 'vitest';
import type { Dependency, ReferencedFile } from '../../../shared/project';
import { CheckFinding } from '../../../shared/project';
import {
  absoluteLiteralFinding,
  fileFindings,
  lfsFinding,
  looksLikeUserPath,
  magicFindings,
  pythonVersionFindings,
  syntaxFinding,
  trainingFinding,
} from '../../../electron/main/services/project/checks';
import { transformCell } from '../../../electron/main/services/project/transform';

const file = (over: Partial<ReferencedFile>): ReferencedFile => ({
  path: 'model.joblib',
  projectPath: 'model.joblib',
  kind: 'model',
  call: 'joblib.load',
  location: { file: 'model.ipynb', cell: 2, line: 5 },
  exists: true,
  sizeBytes: 900,
  lfsPointer: false,
  pickle: null,
  ...over,
});
const pickle = (over: Partial<NonNullable<ReferencedFile['pickle']>>) => ({ exact: true, compression: null, modules: [], mainRefs: [], sklearnVersions: [], error: null, ...over });
const sklearn: Dependency = { name: 'scikit-learn', version: '1.2.1', specifier: '==1.2.1', requirement: 'scikit-learn==1.2.1', status: 'pinned', source: 'import', imports: ['sklearn'], candidates: [], why: [] };

describe('pre-build checks', () => {
  it('pickle-version-mismatch', () => {
    const [f] = fileFindings([file({ pickle: pickle({ sklearnVersions: ['1.0.2'] }) })], [sklearn]);
    expect(f.code).toBe('pickle-version-mismatch');
    expect(f.severity).toBe('error');
    expect(f.message).toBe(
      'model.joblib was saved with scikit-learn 1.0.2, but the project pins scikit-learn 1.2.1. A model pickled by one scikit-learn version can fail to load or predict differently in another. ' +
        'Re-run the training cell with scikit-learn 1.2.1 to save it again, or pin the version it was saved with (`%pip install scikit-learn==1.0.2` in the notebook, or scikit-learn==1.0.2 in requirements.txt).',
    );
    expect(fileFindings([file({ pickle: pickle({ sklearnVersions: ['1.2.1'] }) })], [sklearn])).toEqual([]);
  });

  it('pickle-main-reference', () => {
    const [f] = fileFindings([file({ path: 'tok.pkl', projectPath: 'tok.pkl', pickle: pickle({ mainRefs: ['tokenize'] }) })], []);
    expect(f).toMatchObject({ code: 'pickle-main-reference', severity: 'error', subject: 'tok.pkl' });
    expect(f.message).toBe(
      'tok.pkl refers to `__main__.tokenize`, something defined in the notebook itself. A pickle stores only that name, and in the served model `__main__` is a different program, so loading it fails. ' +
        'Move `tokenize` into a .py file in the project (for example helpers.py), import it from there in the notebook, run the training cell again to save the file, then analyse again.',
    );
  });

  it('pickle-unreadable', () => {
    const [f] = fileFindings([file({ pickle: pickle({ error: 'lz4-compressed file' }) })], []);
    expect(f).toMatchObject({ code: 'pickle-unreadable', severity: 'warning' });
    expect(f.message).toBe('Berth could not inspect model.joblib (lz4-compressed file), so it cannot check which library versions it needs. Make sure it loads in the notebook.');
  });

  it('lfs-pointer', () => {
    const [f] = fileFindings([file({ lfsPointer: true })], []);
    expect(f).toMatchObject({ code: 'lfs-pointer', severity: 'error' });
    expect(f.message).toBe(
      'model.joblib is a Git LFS pointer (a small text file that stands for the real one): its content was never downloaded. Run `git lfs pull` in the project folder, then analyse again.',
    );
    expect(lfsFinding('weights.bin', undefined, false)).toMatchObject({ severity: 'warning', location: { file: 'weights.bin' } });
    expect(lfsFinding('weights.bin', undefined, false).message).toContain('Run `git lfs pull` in the project folder if the model needs it');
  });

  it('absolute-path', () => {
    const [f] = fileFindings([file({ path: '/Users/alice/data/x.csv', projectPath: null, kind: 'data', call: 'pd.read_csv', exists: false })], []);
    expect(f).toMatchObject({ code: 'absolute-path', severity: 'error' });
    expect(f.message).toBe(
      'model.ipynb cell 3 line 5 reads `/Users/alice/data/x.csv`, an absolute path on this computer; it does not exist inside the container. Copy the file into the project folder and use a relative path (for example `data/x.csv`).',
    );
    const w = absoluteLiteralFinding({ file: 'helpers.py', line: 3 }, 'C:\\Users\\bob\\model');
    expect(w).toMatchObject({ code: 'absolute-path', severity: 'warning' });
    expect(w.message).toBe(
      'helpers.py line 3 mentions `C:\\Users\\bob\\model`, an absolute path on this computer that will not exist inside the container. If the model uses it, copy what it points to into the project folder and use a relative path.',
    );
    expect(looksLikeUserPath('/home/bob/x')).toBe(true);
    expect(looksLikeUserPath('/api/v1/predict')).toBe(false);
  });

  it('missing-file, for models and data', () => {
    const [m] = fileFindings([file({ exists: false, sizeBytes: null })], []);
    expect(m).toMatchObject({ code: 'missing-file', severity: 'error', subject: 'model.joblib' });
    expect(m.message).toBe(
      'model.ipynb cell 3 line 5 reads `model.joblib`, but there is no model.joblib in the project folder. Run the training cell to save the model, or copy the file into the project folder; then analyse again.',
    );
    const [d] = fileFindings([file({ path: 'lookup.csv', projectPath: 'lookup.csv', kind: 'data', exists: false })], []);
    expect(d.message).toBe('model.ipynb cell 3 line 5 reads `lookup.csv`, but there is no lookup.csv in the project folder. Add the file to the project folder (or fix the path), then analyse again.');
  });

  it('path-outside-project', () => {
    const [f] = fileFindings([file({ path: '../shared/model.pkl', projectPath: null })], []);
    expect(f).toMatchObject({ code: 'path-outside-project', severity: 'error' });
    expect(f.message).toBe(
      'model.ipynb cell 3 line 5 reads `../shared/model.pkl`, which lies outside the project folder and will not be in the container. Move it into the project folder and update the path.',
    );
  });

  it('training-at-start', () => {
    const f = trainingFinding('model.ipynb', 1, [
      { line: 4, call: 'clf.fit' },
      { line: 9, call: 'model.compile' },
    ])!;
    expect(f).toMatchObject({ code: 'training-at-start', severity: 'error', location: { file: 'model.ipynb', cell: 1, line: 4 } });
    expect(f.message).toBe(
      'Cell 2 trains when the module loads (`clf.fit(...)` on line 4 and 1 more): the served model would retrain at every start and need the training data. ' +
        'Tag the cell `training` (Jupyter: View → Cell Toolbar → Tags; JupyterLab: the property inspector) so Berth leaves it out, and load the saved model in another cell instead.',
    );
    expect(trainingFinding('model.ipynb', 1, [])).toBeNull();
  });

  it('python-version-mismatch', () => {
    const fs = pythonVersionFindings(
      [
        { file: '.python-version', value: '3.9', satisfied: false },
        { file: 'pyproject.toml', value: '>=3.12', satisfied: false },
        { file: 'runtime.txt', value: '3.11.2', satisfied: true },
        { file: 'environment.yml', value: 'whatever', satisfied: null },
      ],
      '3.11.2',
      '/usr/bin/python3',
    );
    expect(fs.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ['python-version-mismatch', 'warning', '.python-version'],
      ['python-version-mismatch', 'warning', 'pyproject.toml'],
    ]);
    expect(fs[0].message).toBe(
      ".python-version asks for Python 3.9, but the project's interpreter (/usr/bin/python3) is Python 3.11.2. Berth builds with 3.11.2, the version the dependency versions were read from. " +
        'Choose an interpreter that matches .python-version, or update .python-version to 3.11.',
    );
    expect(fs[1].message).toMatch(/^pyproject\.toml asks for requires-python >=3\.12, but/);
  });

  it('shell-command, cell-magic and line-magic', () => {
    const shell = magicFindings('model.ipynb', 1, transformCell('!wget https://x.invalid/model.bin\n%pip install x'));
    expect(shell).toHaveLength(1);
    expect(shell[0]).toMatchObject({ code: 'shell-command', severity: 'warning', location: { file: 'model.ipynb', cell: 1, line: 1 } });
    expect(shell[0].message).toBe(
      'Cell 2 line 1 runs the shell command `!wget https://x.invalid/model.bin`; Berth commented it out in the served module. If the model needs its result (a downloaded or generated file), run it once beforehand and keep the result in the project folder.',
    );

    const [bash] = magicFindings('model.ipynb', 3, transformCell('%%bash\nls'));
    expect(bash).toMatchObject({ code: 'cell-magic', severity: 'warning', subject: '%%bash' });
    expect(bash.message).toBe(
      'Cell 4 is a `%%bash` cell, which is not Python, so Berth left it out of the served module. If serving needs what it does, rewrite it in Python; otherwise tag the cell `skip-deploy` to confirm.',
    );
    const [time] = magicFindings('model.ipynb', 3, transformCell('%%time\nx = 1'));
    expect(time).toMatchObject({ code: 'cell-magic', severity: 'info' });
    expect(time.message).toBe("Cell 4 starts with `%%time`; Berth removed that line and kept the cell's code in the served module.");

    const [run] = magicFindings('model.ipynb', 0, transformCell('%run prep.py'));
    expect(run).toMatchObject({ code: 'line-magic', severity: 'warning' });
    expect(run.message).toBe(
      'Cell 1 line 1: `%run prep.py` is an IPython magic; Berth commented it out in the served module. Put the code it runs in a .py module in the project and import it instead.',
    );
    expect(magicFindings('model.ipynb', 0, transformCell('%matplotlib inline'))).toEqual([]);
  });

  it('syntax-error', () => {
    const f = syntaxFinding({ file: 'model.ipynb', cell: 4, line: 2 }, "'(' was never closed");
    expect(f.message).toBe("model.ipynb cell 5 line 2 is not valid Python ('(' was never closed). Fix it in the notebook, or tag the cell `skip-deploy` if serving does not need it.");
  });

  it('produces findings that match the shared schema', () => {
    const all = [
      ...fileFindings([file({ pickle: pickle({ sklearnVersions: ['1.0.2'], mainRefs: ['f'] }) })], [sklearn]),
      ...magicFindings('m.ipynb', 0, transformCell('!ls\n%run x')),
      trainingFinding('m.ipynb', 0, [{ line: 1, call: 'm.fit' }])!,
    ];
    for (const f of all) expect(CheckFinding.parse(f)).toEqual(f);
  });
});
