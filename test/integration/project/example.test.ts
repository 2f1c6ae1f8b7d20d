/**
 * projects.openExample on a real data folder: the bundled example is copied once into `<data folder>/examples/`,
 * a second call keeps the user's edits, and the copy analyses with this machine's Debian Python without a blocking
 * finding (so the first build needs nothing of the user's).
 */
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectService } from '../../../electron/main/services/project';
import { createExampleProjects, EXAMPLE_PROJECT, installedExampleDir } from '../../../electron/main/services/project/example';
import { createRecentProjects } from '../../../electron/main/services/project/recent';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { createProjectsRepo } from '../../../electron/main/services/store/projects';
import { blocksBuild } from '../../../shared/project';
import { DEBIAN_PYTHON, requireDebianPython } from './support';

const scratch: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};
let db: Db;

beforeAll(() => {
  requireDebianPython();
  db = openDatabase(path.join(tempDir('berth-example-db-'), 'berth.db'));
});
afterAll(() => {
  db?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function examples(home: string, source?: () => string) {
  const projects = createRecentProjects(createProjectsRepo(db));
  return { projects, examples: createExampleProjects({ folder: path.join(home, 'examples'), open: (p) => projects.open(p), source }) };
}

describe('the bundled example project', () => {
  it('is copied into the data folder once, opened as projects.open does, and keeps the user’s edits', async () => {
    const home = tempDir('berth-example-home-');
    const { projects, examples: service } = examples(home);
    const first = await service.openExample();
    const copy = path.join(home, 'examples', EXAMPLE_PROJECT);
    expect(first).toMatchObject({ path: copy, name: EXAMPLE_PROJECT, kind: 'folder' });
    expect(projects.recent().map((p) => p.path)).toEqual([copy]);
    expect(readdirSync(copy).sort()).toEqual(readdirSync(installedExampleDir()!).sort());

    const notebook = path.join(copy, 'iris_classifier.ipynb');
    const edited = readFileSync(notebook, 'utf8').replace('Berth serves `predict`', 'Berth serves `predict` (my edit)');
    writeFileSync(notebook, edited);
    writeFileSync(path.join(copy, 'notes.md'), 'mine\n');
    const second = await service.openExample();
    expect(second).toMatchObject({ id: first.id, path: copy });
    expect(readFileSync(notebook, 'utf8')).toBe(edited);
    expect(readFileSync(path.join(copy, 'notes.md'), 'utf8')).toBe('mine\n');
  });

  it('makes a writable copy of a read-only installation', async () => {
    const installed = path.join(tempDir('berth-example-installed-'), EXAMPLE_PROJECT);
    cpSync(installedExampleDir()!, installed, { recursive: true });
    for (const name of readdirSync(installed)) chmodSync(path.join(installed, name), 0o444);
    chmodSync(installed, 0o555);
    const home = tempDir('berth-example-home-');
    const { path: copy } = await examples(home, () => installed).examples.openExample();
    for (const name of readdirSync(copy)) expect(statSync(path.join(copy, name)).mode & 0o200).toBe(0o200);
    chmodSync(installed, 0o755);
  });

  it('analyses without a blocking finding: predict, its sample, and the saved model', async () => {
    const home = tempDir('berth-example-home-');
    const { path: copy } = await examples(home).examples.openExample();
    const analysis = await createProjectService().analyze(copy, { interpreter: DEBIAN_PYTHON });
    expect(analysis.findings.filter(blocksBuild)).toEqual([]);
    expect(analysis.projectFile).toMatchObject({ model: 'iris-classifier', group: { name: 'local', this_computer: true } });
    expect(analysis.entrypoint).toBe('predict');
    expect(analysis.sample).toMatchObject({ input: [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], expectedOutput: ['setosa', 'virginica'] });
    expect(analysis.files.models.map((f) => f.projectPath)).toEqual(['model.joblib']);
  });
});
