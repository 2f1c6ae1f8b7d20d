import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pep508Text } from '../../../electron/main/services/project/envfiles';
import { callHelper, defaultHelperDir, spawnPython } from '../../../electron/main/services/project/python';
import { type AskHelper, readRequirements, type RequirementText } from '../../../electron/main/services/project/requirements';

/** Debian's Python with python3-packaging (.ci/run installs it). */
const DEBIAN_PYTHON = '/usr/bin/python3';
const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-requirements-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const askWith =
  (interpreter: string): AskHelper =>
  async <T>(command: 'requirements', input: unknown) =>
    (await callHelper<T>(spawnPython, defaultHelperDir(), { interpreter, command, input, cwd: scratch, timeoutMs: 30_000 })).result;

const satisfies = async (version: string, request: string, interpreter = DEBIAN_PYTHON) =>
  (await readRequirements(askWith(interpreter), interpreter, [], { version, requests: [request] })).python[0];

const line = (raw: string, n: number): RequirementText => ({ text: pep508Text(raw)!, raw, location: { file: 'requirements.txt', line: n } });

/** A virtual environment without pip or packaging; `vendoredPip` gives it pip's layout with packaging inside. */
function bareVenv(name: string, vendoredPip = false): string {
  const dir = path.join(scratch, name);
  execFileSync(DEBIAN_PYTHON, ['-m', 'venv', '--without-pip', dir]);
  if (vendoredPip) {
    const site = path.join(dir, 'lib', readdirSync(path.join(dir, 'lib'))[0], 'site-packages');
    mkdirSync(path.join(site, 'pip', '_vendor'), { recursive: true });
    writeFileSync(path.join(site, 'pip', '__init__.py'), '');
    writeFileSync(path.join(site, 'pip', '_vendor', '__init__.py'), '');
    symlinkSync('/usr/lib/python3/dist-packages/packaging', path.join(site, 'pip', '_vendor', 'packaging'));
  }
  return path.join(dir, 'bin', 'python');
}

describe('Python version requests, read by packaging', () => {
  it.each([
    ['3.9', true],
    ['3.11', false],
    ['3.9.18', false],
    ['3.9.7', true],
    ['pypy3.9', true],
    ['>=3.8', true],
    ['>=3.10,<3.12', false],
    ['=3.9', true],
    ['3.9.*', true],
    ['=3.9.7=h12345_0', true],
    ['~=3.9.0', true],
    ['<3.9', false],
    ['^3.9', true],
    ['~3.9', true],
    ['^3.10', false],
  ])('3.9.7 against %s → %s', async (request, ok) => {
    expect(await satisfies('3.9.7', request)).toBe(ok);
  });

  it("reads conda's `|` and poetry's `||` alternatives", async () => {
    expect(await satisfies('3.9.1', '3.8|3.9')).toBe(true);
    expect(await satisfies('3.12.1', '3.11 || 3.12')).toBe(true);
    expect(await satisfies('3.10.4', '3.8|3.9')).toBe(false);
  });

  it('returns null for requests it cannot read', async () => {
    expect(await satisfies('3.11.2', 'system')).toBeNull();
    expect(await satisfies('3.11.2', 'my-virtualenv')).toBeNull();
  });
});

describe('requirements, read by packaging', () => {
  it('parses names, extras, specifiers and markers, and reports what is not a requirement', async () => {
    const texts = [
      line('Scikit_Learn==1.2.1', 1),
      line('pandas[parquet] >= 1.5, <3 ; python_version >= "3.8"', 2),
      line('torch @ https://x.invalid/torch.whl', 3),
      line('git+https://x.invalid/repo.git#egg=mylib', 4),
      line('foo bar', 5),
    ];
    const { requirements, findings } = await readRequirements(askWith(DEBIAN_PYTHON), DEBIAN_PYTHON, texts, { version: '3.11.2', requests: [] });
    expect(requirements).toEqual([
      { name: 'scikit-learn', rawName: 'Scikit_Learn', specifier: '==1.2.1', extras: [], marker: null, raw: 'Scikit_Learn==1.2.1', file: 'requirements.txt', line: 1 },
      expect.objectContaining({ name: 'pandas', extras: ['parquet'], specifier: '<3,>=1.5', marker: 'python_version >= "3.8"', line: 2 }),
      expect.objectContaining({ name: 'torch', specifier: '' }),
      expect.objectContaining({ name: 'mylib', specifier: '', raw: 'git+https://x.invalid/repo.git#egg=mylib' }),
      null,
    ]);
    expect(findings.map((f) => [f.code, f.severity, f.location])).toEqual([['requirement-invalid', 'warning', { file: 'requirements.txt', line: 5 }]]);
    expect(findings[0].message).toMatch(/^requirements\.txt line 5: `foo bar` is not a valid requirement \(Expected .*\), so Berth leaves it out/);
  });

  it("uses pip's vendored packaging when the interpreter has no packaging of its own", async () => {
    expect(await satisfies('3.9.1', '3.8|3.9', bareVenv('vendored', true))).toBe(true);
  });

  it('refuses clearly when the interpreter has neither packaging nor pip', async () => {
    const python = bareVenv('bare');
    await expect(satisfies('3.9.1', '3.9', python)).rejects.toMatchObject({
      kind: 'ProjectInvalid',
      message: expect.stringMatching(new RegExp(`^${python} has neither the packaging library nor pip, .*Install packaging there`)),
    });
  });

  it('asks the helper nothing when there is nothing to read', async () => {
    const ask = (() => Promise.reject(new Error('asked'))) as AskHelper;
    expect(await readRequirements(ask, DEBIAN_PYTHON, [], { version: '3.11.2', requests: [] })).toEqual({ requirements: [], python: [], findings: [] });
  });
});
