import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callHelper, defaultHelperDir, spawnPython } from '../../../electron/main/services/project/python';
import { DEBIAN_PYTHON, FIXTURES, requireDebianPython } from './support';

let dir: string;
let versions: ReturnType<typeof requireDebianPython>;
beforeAll(() => {
  versions = requireDebianPython();
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-helper-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const helper = <T>(command: 'code' | 'imports' | 'pickles', input: unknown, interpreter = DEBIAN_PYTHON) =>
  callHelper<T>(spawnPython, defaultHelperDir(), { interpreter, command, input, cwd: dir, timeoutMs: 60_000 }).then((r) => r.result);

const py = (code: string) => execFileSync(DEBIAN_PYTHON, ['-B', '-c', code], { cwd: dir, encoding: 'utf8' });

interface PickleInfo {
  format?: string;
  compression?: string | null;
  exact?: boolean;
  modules?: string[];
  mainRefs?: string[];
  sklearnVersions?: string[];
  error?: string;
}

describe('pickle inspection (no unpickling)', () => {
  it('reads globals and the scikit-learn version from plain pickles of every protocol', async () => {
    py(`
import pickle
from sklearn.tree import DecisionTreeClassifier
m = DecisionTreeClassifier(max_depth=1).fit([[0], [1]], [0, 1])
for p in range(0, pickle.HIGHEST_PROTOCOL + 1):
    with open('p%d.pkl' % p, 'wb') as f:
        pickle.dump(m, f, protocol=p)
`);
    const files = [0, 1, 2, 3, 4, 5].map((p) => path.join(dir, `p${p}.pkl`));
    const res = await helper<{ files: PickleInfo[] }>('pickles', { files });
    for (const [i, info] of res.files.entries()) {
      expect(info.format, `protocol ${i}`).toBe('pickle');
      expect(info.exact, `protocol ${i}`).toBe(true);
      expect(info.sklearnVersions, `protocol ${i}`).toEqual([versions.sklearn]);
      expect(info.modules, `protocol ${i}`).toContain('sklearn.tree._classes');
      expect(info.mainRefs).toEqual([]);
    }
  });

  it('scans joblib files, compressed or not', async () => {
    py(`
import joblib
from sklearn.preprocessing import StandardScaler
m = StandardScaler().fit([[0.0], [1.0]])
joblib.dump(m, 'plain.joblib')
for c in ['zlib', 'gzip', 'bz2', 'xz', 'lzma']:
    joblib.dump(m, 'c.' + c + '.joblib', compress=(c, 3))
`);
    const names = ['plain', 'c.zlib', 'c.gzip', 'c.bz2', 'c.xz', 'c.lzma'];
    const res = await helper<{ files: PickleInfo[] }>('pickles', { files: names.map((n) => path.join(dir, `${n}.joblib`)) });
    expect(res.files.map((f) => f.compression)).toEqual([null, 'zlib', 'gzip', 'bz2', 'xz', 'lzma']);
    for (const f of res.files) {
      expect(f.error).toBeUndefined();
      expect(f.sklearnVersions).toEqual([versions.sklearn]);
      expect(f.modules).toContain('sklearn.preprocessing._data');
    }
  });

  it('finds __main__ references, and reads torch-style zip archives', async () => {
    py(`
import pickle, zipfile
def featurize(x):
    return x
class Wrapper:
    pass
with open('main.pkl', 'wb') as f:
    pickle.dump({'fn': featurize, 'obj': Wrapper()}, f, protocol=2)
with zipfile.ZipFile('model.pt', 'w') as z:
    z.writestr('archive/data.pkl', pickle.dumps(featurize, protocol=4))
    z.writestr('archive/version', '3')
`);
    const res = await helper<{ files: PickleInfo[] }>('pickles', { files: [path.join(dir, 'main.pkl'), path.join(dir, 'model.pt')] });
    expect(res.files[0].mainRefs).toEqual(['Wrapper', 'featurize']);
    expect(res.files[1]).toMatchObject({ format: 'zip', mainRefs: ['featurize'] });
  });

  it('never runs code while inspecting', async () => {
    const marker = path.join(dir, 'pwned');
    py(`
import pickle, os
class Evil:
    def __reduce__(self):
        return (os.system, (${JSON.stringify(`touch ${marker}`)},))
with open('evil.pkl', 'wb') as f:
    pickle.dump(Evil(), f)
`);
    const res = await helper<{ files: PickleInfo[] }>('pickles', { files: [path.join(dir, 'evil.pkl')] });
    expect(res.files[0].modules).toEqual([process.platform === 'win32' ? 'nt' : 'posix']);
    expect(existsSync(marker)).toBe(false);
  });

  it('reports files it cannot read instead of failing', async () => {
    writeFileSync(path.join(dir, 'notes.pkl'), 'hello, not a pickle');
    writeFileSync(path.join(dir, 'fast.joblib'), Buffer.from([0x04, 0x22, 0x4d, 0x18, 1, 2, 3]));
    const res = await helper<{ files: (PickleInfo & { path: string })[] }>('pickles', {
      files: [path.join(dir, 'notes.pkl'), path.join(dir, 'fast.joblib'), path.join(dir, 'absent.pkl'), path.join(FIXTURES, 'broken/model.joblib')],
    });
    expect(res.files[0]).toMatchObject({ format: 'unknown', error: expect.stringContaining('not a pickle') });
    expect(res.files[1].error).toMatch(/lz4/);
    expect(res.files[2].error).toMatch(/No such file/);
    expect(res.files[3].format).toBe('lfs-pointer');
  });
});

describe('code analysis', () => {
  it('finds functions, imports, file references, absolute paths and training at import time', async () => {
    const code = [
      'import joblib, os',
      'from sklearn.linear_model import LogisticRegression',
      'from . import sibling',
      "model = joblib.load(os.path.join('models', 'm.joblib'))",
      "with open('tok.pkl', 'rb') as f:",
      '    tok = pickle.load(f)',
      "df = pd.read_csv('/Users/alice/data/x.csv')",
      "with open('out.txt', 'w') as f: pass",
      'clf = LogisticRegression().fit(X, y)',
      'net.train()',
      'import re; r = re.compile("x")',
      'def predict(inputs, *rest, k=1, **kw):',
      '    """/home/in/a/docstring"""',
      '    model.fit(inputs)',
      '    return model.predict(inputs)',
      'class Holder:',
      '    m = thing.fit(1)',
      "mod = importlib.import_module('lightgbm')",
    ].join('\n');
    const { results } = await helper<{ results: any[] }>('code', { sources: [{ id: 'a', code }, { id: 'b', code: 'x = (\n' }] });
    const a = results[0];
    expect(a.functions).toEqual([{ name: 'predict', line: 12, params: ['inputs', '*rest', 'k', '**kw'], async: false }]);
    expect(a.imports.map((i: any) => [i.module, i.level])).toEqual([
      ['joblib', 0],
      ['os', 0],
      ['sklearn.linear_model', 0],
      ['', 1],
      ['re', 0],
      ['lightgbm', 0],
    ]);
    expect(a.fileRefs.map((r: any) => [r.path, r.call, r.kind])).toEqual([
      ['models/m.joblib', 'joblib.load', 'model'],
      ['tok.pkl', 'open', 'model'],
      ['/Users/alice/data/x.csv', 'pd.read_csv', 'data'],
      ['out.txt', 'open', 'output'],
    ]);
    expect(a.absolutePaths.map((p: any) => p.value)).toEqual(['/Users/alice/data/x.csv']);
    expect(a.training).toEqual([
      { line: 9, call: 'LogisticRegression().fit' },
      { line: 17, call: 'thing.fit' },
    ]);
    expect(results[1].syntaxError).toMatchObject({ line: 1 });
  });
});

describe('import classification', () => {
  it('separates stdlib, local modules (recursively) and installed distributions', async () => {
    const proj = path.join(dir, 'proj');
    mkdirSync(path.join(proj, 'pkg'), { recursive: true });
    writeFileSync(path.join(proj, 'helpers.py'), 'import numpy\nfrom pkg import util\n');
    writeFileSync(path.join(proj, 'pkg', '__init__.py'), '');
    writeFileSync(path.join(proj, 'pkg', 'util.py'), "import pandas as pd\nimport json\ndata = pd.read_csv('lookup.csv')\n");
    const res = await helper<any>('imports', {
      searchDirs: [proj],
      root: proj,
      imports: [
        { module: 'os.path', ref: { module: 'os.path', cell: 0, line: 1 } },
        { module: 'helpers', ref: { module: 'helpers', cell: 0, line: 2 } },
        { module: 'sklearn.linear_model', ref: { module: 'sklearn.linear_model', cell: 1, line: 1 } },
        { module: 'lightgbm', ref: { module: 'lightgbm', cell: 1, line: 2 } },
      ],
      distributions: ['scikit-learn', 'Pandas', 'not-a-real-dist'],
    });
    const by = Object.fromEntries(res.imports.map((e: any) => [e.name, e]));
    expect(by.os.kind).toBe('stdlib');
    expect(by.json.kind).toBe('stdlib');
    expect(by.helpers).toMatchObject({ kind: 'local', files: ['helpers.py'] });
    expect(by.pkg).toMatchObject({ kind: 'local', files: ['pkg/__init__.py', 'pkg/util.py'] });
    expect(by.sklearn).toMatchObject({ kind: 'installed', distributions: [{ name: 'scikit-learn', version: versions.sklearn }] });
    expect(by.numpy.refs).toEqual([{ module: 'numpy', file: 'helpers.py', line: 1 }]);
    expect(by.pandas).toMatchObject({ kind: 'installed', refs: [{ module: 'pandas', file: 'pkg/util.py', line: 1 }] });
    expect(by.lightgbm).toMatchObject({ kind: 'unresolved', importable: false, distributions: [] });
    expect(res.localFiles.map((f: any) => f.file)).toEqual(['helpers.py', 'pkg/__init__.py', 'pkg/util.py']);
    expect(res.localFiles[2].fileRefs).toEqual([{ path: 'lookup.csv', line: 3, call: 'pd.read_csv', kind: 'data', mode: null }]);
    expect(res.distVersions).toEqual({ 'scikit-learn': versions.sklearn, Pandas: versions.pandas, 'not-a-real-dist': null });
  });

  const py38 = '/root/.pyenv/versions/3.8.18/bin/python3';
  it.skipIf(!existsSync(py38))('works under Python 3.8 (no sys.stdlib_module_names, no packages_distributions)', async () => {
    const res = await helper<any>(
      'imports',
      {
        searchDirs: [dir],
        root: dir,
        imports: [
          { module: 'collections.abc', ref: null },
          { module: 'pip', ref: null },
          { module: 'numpy', ref: null },
        ],
        distributions: ['pip'],
      },
      py38,
    );
    const by = Object.fromEntries(res.imports.map((e: any) => [e.name, e]));
    expect(by.collections.kind).toBe('stdlib');
    expect(by.pip).toMatchObject({ kind: 'installed', distributions: [{ name: 'pip' }] });
    expect(by.numpy.kind).toBe('unresolved');
    expect(res.distVersions.pip).toMatch(/^\d+\./);
  });
});
