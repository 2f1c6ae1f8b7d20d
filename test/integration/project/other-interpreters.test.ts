import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectAnalysis } from '../../../shared/project';
import { createProjectService } from '../../../electron/main/services/project';
import { DEBIAN_PYTHON, FIXTURES, makeVenv, requireDebianPython } from './support';

/** A pyenv Python without scikit-learn and joblib. */
const BARE_PYTHON = '/root/.pyenv/versions/3.11.7/bin/python3';

let versions: ReturnType<typeof requireDebianPython>;
let parent: string;
let root: string;
let venvBeside: string;
beforeAll(() => {
  versions = requireDebianPython();
  if (!existsSync(BARE_PYTHON)) throw new Error(`These tests need ${BARE_PYTHON} (pyenv install 3.11.7), a Python without scikit-learn and joblib`);
  // the project, and beside it a virtualenv that sees Debian's packages
  parent = mkdtempSync(path.join(os.tmpdir(), 'berth-others-'));
  root = path.join(parent, 'iris');
  cpSync(path.join(FIXTURES, 'sklearn-iris'), root, { recursive: true });
  venvBeside = makeVenv(parent, true);
});
afterAll(() => rmSync(parent, { recursive: true, force: true }));

const service = createProjectService();

describe('an interpreter without the notebook’s packages', () => {
  let a: ProjectAnalysis;
  beforeAll(async () => {
    a = await service.analyze(root, { interpreter: BARE_PYTHON });
  });

  it('reports the missing packages', () => {
    const missing = a.findings.filter((f) => f.code === 'import-not-installed').map((f) => f.subject);
    expect(missing).toEqual(expect.arrayContaining(['joblib', 'sklearn']));
    expect(ProjectAnalysis.parse(a)).toEqual(a);
  });

  it('offers Debian’s python3 and the virtualenv beside the project, with the versions they have', () => {
    const packages = expect.arrayContaining([
      { name: 'joblib', version: versions.joblib },
      { name: 'scikit-learn', version: versions.sklearn },
    ]);
    expect(a.otherInterpreters).toEqual(
      expect.arrayContaining([
        { path: venvBeside, label: 'virtualenv .venv beside the project', packages },
        { path: DEBIAN_PYTHON, label: 'system', packages },
      ]),
    );
    expect(a.otherInterpreters!.map((o) => o.path)).not.toContain(BARE_PYTHON);
  });

  it('analyses cleanly with the interpreter it offered', async () => {
    const switched = await service.analyze(root, { interpreter: a.otherInterpreters!.find((o) => o.label === 'system')!.path });
    expect(switched.findings.filter((f) => f.code === 'import-not-installed')).toEqual([]);
    // nothing missing: no other interpreter was asked
    expect(switched.otherInterpreters).toBeUndefined();
  });
});
