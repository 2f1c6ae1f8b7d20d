import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { exactVersion, findEnvFiles, normalizeName, pep508Text, readEnvFiles } from '../../../electron/main/services/project/envfiles';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-env-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const write = (rel: string, text: string) => {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
};

describe('requirement lines', () => {
  it("keeps PEP 508 text for the helper, names a URL only by its #egg, and drops pip's options", () => {
    expect(pep508Text(' pandas[parquet] >= 1.5, <3 ; python_version >= "3.8" ')).toBe('pandas[parquet] >= 1.5, <3 ; python_version >= "3.8"');
    expect(pep508Text('torch @ https://x.invalid/torch.whl')).toBe('torch @ https://x.invalid/torch.whl');
    expect(pep508Text('git+https://x.invalid/repo.git#egg=mylib')).toBe('mylib');
    expect(pep508Text('./local/package')).toBeNull();
    expect(pep508Text('--extra-index-url https://x.invalid')).toBeNull();
  });
  it('knows exact pins', () => {
    expect(exactVersion('==1.2.1')).toBe('1.2.1');
    expect(exactVersion('==1.2.*')).toBeNull();
    expect(exactVersion('>=1.2')).toBeNull();
    expect(normalizeName('Foo.Bar__baz')).toBe('foo-bar-baz');
  });
});

describe('environment files', () => {
  it('reads requirements (with -r includes), pyproject, environment.yml, runtime.txt, .python-version and apt.txt', async () => {
    write('requirements.txt', '# comment\npandas>=1.5  # inline comment\n-r base.txt\n\n--index-url https://x.invalid\n');
    write('base.txt', 'numpy==1.24.2\n');
    write('requirements-dev.txt', 'pytest\n');
    write('pyproject.toml', '[project]\nname = "x"\nrequires-python = ">=3.10"\ndependencies = ["joblib==1.2.0", "scipy"]\n');
    write('environment.yml', 'name: iris-env\nchannels: [conda-forge]\ndependencies:\n  - python=3.9\n  - numpy=1.24\n  - pip\n  - pip:\n    - lightgbm==4.1.0\n');
    write('runtime.txt', 'python-3.10.12\n');
    write('.python-version', '3.9\n');
    write('apt.txt', 'libgomp1\n# comment\nlibsndfile1\n');
    const names = await findEnvFiles(dir, ['.']);
    expect(names.requirements).toEqual(['requirements.txt']);
    const env = await readEnvFiles(dir, names);
    expect(env.found).toEqual(['requirements.txt', 'pyproject.toml', 'environment.yml', 'runtime.txt', '.python-version', 'apt.txt']);
    expect(env.requirementTexts.map((r) => `${r.text} @${r.location.file}:${r.location.line}`)).toEqual([
      'pandas>=1.5 @requirements.txt:2',
      'numpy==1.24.2 @base.txt:1',
      'joblib==1.2.0 @pyproject.toml:undefined',
      'scipy @pyproject.toml:undefined',
      'lightgbm==4.1.0 @environment.yml:undefined',
    ]);
    expect(env.python).toEqual([
      { file: 'pyproject.toml', value: '>=3.10' },
      { file: 'environment.yml', value: '=3.9' },
      { file: 'runtime.txt', value: '3.10.12' },
      { file: '.python-version', value: '3.9' },
    ]);
    expect(env.conda).toEqual({ file: 'environment.yml', name: 'iris-env', dependencies: ['numpy=1.24', 'pip'] });
    expect(env.aptPackages).toEqual(['libgomp1', 'libsndfile1']);
  });

  it('throws ProjectInvalid naming the file when TOML or YAML cannot be parsed', async () => {
    write('pyproject.toml', '[project\nname = ');
    const err = await readEnvFiles(dir, await findEnvFiles(dir, ['.'])).catch((e) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err.kind).toBe('ProjectInvalid');
    expect(err.message).toMatch(/^pyproject\.toml could not be read: .* at line 1, column \d+\. Fix the file or remove it/);
    rmSync(path.join(dir, 'pyproject.toml'));
    write('environment.yml', 'name: [unclosed\n');
    await expect(readEnvFiles(dir, await findEnvFiles(dir, ['.']))).rejects.toThrow(/environment\.yml could not be read/);
  });
});
