import { describe, expect, it } from 'vitest';
import { parseInstall, shellSplit, transformCell } from '../../../electron/main/services/project/transform';

describe('transformCell', () => {
  it('comments out line magics and keeps the line count', () => {
    const src = '%matplotlib inline\nimport numpy as np\n%load_ext autoreload\nx = np.zeros(3)';
    const t = transformCell(src);
    expect(t.code).toBe('# %matplotlib inline\nimport numpy as np\n# %load_ext autoreload\nx = np.zeros(3)');
    expect(t.code.split('\n')).toHaveLength(src.split('\n').length);
    expect(t.lineMagics.map((m) => [m.name, m.notice])).toEqual([
      ['matplotlib', null],
      ['load_ext', null],
    ]);
  });

  it('turns %pip / !pip / conda installs into requirement specs', () => {
    const t = transformCell(
      [
        '%pip install -q scikit-learn==1.2.1 "pandas>=1.5"',
        '!pip install --upgrade xgboost',
        '!{sys.executable} -m pip install -i https://example.invalid/simple lightgbm==4.1.0',
        '%conda install -c conda-forge -y catboost=1.2 conda-forge::shap',
        '!python3 -m pip install -r requirements.txt',
      ].join('\n'),
    );
    expect(t.pip.map((p) => [p.spec, p.line, p.manager])).toEqual([
      ['scikit-learn==1.2.1', 1, 'pip'],
      ['pandas>=1.5', 1, 'pip'],
      ['xgboost', 2, 'pip'],
      ['lightgbm==4.1.0', 3, 'pip'],
      ['catboost==1.2', 4, 'conda'],
      ['shap', 4, 'conda'],
    ]);
    expect(t.shell).toEqual([]);
    expect(t.code.split('\n').every((l) => l.startsWith('# '))).toBe(true);
  });

  it('reports other shell lines, including assignments from them', () => {
    const t = transformCell('!ls data\nfiles = !ls\nprint(1)');
    expect(t.shell).toEqual([
      { line: 1, text: '!ls data' },
      { line: 2, text: 'files = !ls' },
    ]);
    expect(t.code).toBe('# !ls data\n# files = !ls\nprint(1)');
  });

  it('replaces indented magics with pass so the block stays valid', () => {
    const t = transformCell('if True:\n    !echo hi\n    %time f()\n');
    expect(t.code).toBe('if True:\n    pass  # !echo hi\n    f()\n');
  });

  it('keeps the statement of %time and %timeit', () => {
    expect(transformCell('%time model = train(x)').code).toBe('model = train(x)');
    expect(transformCell('%timeit -n 10 -r 3 predict(x)').code).toBe('predict(x)');
    expect(transformCell('r = %time f(1)').code).toBe('r = f(1)');
  });

  it('keeps the body of %%time and %%capture cells and drops other cell magics', () => {
    const time = transformCell('%%time\nimport pickle\nm = 1\n%pip install joblib');
    expect(time.cellMagic).toEqual({ name: 'time', line: '%%time', kept: true });
    expect(time.code.split('\n')).toEqual(['# %%time  (cell magic removed by Berth; the cell\'s code is kept)', 'import pickle', 'm = 1', '# %pip install joblib']);
    expect(time.pip.map((p) => p.spec)).toEqual(['joblib']);

    expect(transformCell('%%capture out\n%pip install x').cellMagic).toEqual({ name: 'capture', line: '%%capture out', kept: true });

    const bash = transformCell('%%bash\necho hello\n');
    expect(bash.cellMagic).toEqual({ name: 'bash', line: '%%bash', kept: false });
    expect(bash.code).toBe('');
  });

  it('does not touch magic-looking lines inside strings, brackets or continuations', () => {
    const src = ['doc = """', '%not a magic', '!not a shell line', '"""', 'x = (1 +', '  2)', "s = '%s' % x", 'y = 1 if x != 2 else 0'].join('\n');
    const t = transformCell(src);
    expect(t.code).toBe(src);
    expect(t.shell).toEqual([]);
    expect(t.lineMagics).toEqual([]);
  });

  it('flags magics whose effect the served model would lose', () => {
    const t = transformCell('%run helpers.ipynb\n%env API=1\n%cd data\n%whatever');
    expect(t.lineMagics.map((m) => [m.name, m.notice])).toEqual([
      ['run', 'warning'],
      ['env', 'warning'],
      ['cd', 'warning'],
      ['whatever', 'info'],
    ]);
  });

  it('comments out help lines', () => {
    const t = transformCell('df.head?\n??np.zeros\nx = 1');
    expect(t.help).toEqual([1, 2]);
    expect(t.code).toBe('# df.head?\n# ??np.zeros\nx = 1');
  });
});

describe('parseInstall / shellSplit', () => {
  it('parses only install commands', () => {
    expect(parseInstall('pip list')).toBeNull();
    expect(parseInstall('ls -la')).toBeNull();
    expect(parseInstall('uv pip install polars==1.0')).toEqual({ specs: ['polars==1.0'], manager: 'pip' });
    expect(parseInstall('pip install torch --index-url https://x.invalid/cpu && echo done')).toEqual({ specs: ['torch'], manager: 'pip' });
  });
  it('splits with quotes', () => {
    expect(shellSplit(`a "b c" 'd e' f\\ g`)).toEqual(['a', 'b c', 'd e', 'f g']);
  });
});
