import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEditsRepo } from '../../../electron/main/services/build/edits';
import { generateFiles } from '../../../electron/main/services/build/dockerfile';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { BerthError } from '../../../shared/errors';
import { dep, fakeAnalysis, fileRef } from './analysis';

const settings = { baseImage: 'berth-base/python:{python}-bookworm' };
const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  dbs.splice(0).forEach((db) => db.close());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function repo() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-edits-'));
  dirs.push(dir);
  const db = openDatabase(join(dir, 'berth.db'));
  dbs.push(db);
  return createEditsRepo(db);
}

const v1 = generateFiles(fakeAnalysis(), settings);
/** The notebook changed: it now also reads a data file and needs pandas. */
const v2 = generateFiles(
  fakeAnalysis({
    dependencies: [...fakeAnalysis().dependencies, dep('pandas', '1.5.3')],
    files: { models: [fileRef('model.joblib', 'model')], data: [fileRef('data/lookup.csv', 'data')] },
  }),
  settings,
);
const P = '/projects/iris';

describe('user edits to the generated files', () => {
  it('replaces the generated files when the user never edited them', () => {
    const edits = repo();
    const first = edits.regenerate(P, v1);
    expect(first.dockerfile).toMatchObject({ generated: v1.dockerfile, edited: null, effective: v1.dockerfile, generatorChanged: false, generatorDiff: null });
    const second = edits.regenerate(P, v2);
    expect(second.dockerfile).toMatchObject({ generated: v2.dockerfile, edited: null, effective: v2.dockerfile, generatorChanged: false });
    expect(second.requirements.effective).toBe(v2.requirements);
  });

  it('keeps an edit across a regeneration and shows how the generated file changed', () => {
    const edits = repo();
    edits.regenerate(P, v1);
    const mine = v1.dockerfile.replace('EXPOSE 8080', 'EXPOSE 8080\nLABEL team=fraud');
    const saved = edits.save(P, { dockerfile: mine });
    expect(saved.dockerfile).toMatchObject({ edited: mine, basedOn: v1.dockerfile, effective: mine, generatorChanged: false });
    expect(saved.requirements.edited).toBeNull();

    const after = edits.regenerate(P, v2);
    expect(after.dockerfile.effective).toBe(mine); // never overwritten silently
    expect(after.dockerfile.generated).toBe(v2.dockerfile);
    expect(after.dockerfile.generatorChanged).toBe(true);
    const diff = after.dockerfile.generatorDiff!;
    expect(diff).toContain('--- Dockerfile (generated when you edited it)');
    expect(diff).toContain('+++ Dockerfile (generated now)');
    expect(diff).toContain('+COPY ["project/data/lookup.csv","/app/data/lookup.csv"]');
    expect(diff).not.toContain('LABEL team=fraud'); // the diff is generator-old vs generator-new, not the user's edit
    // the generator's change applies cleanly to the edit: offered, not applied
    expect(after.dockerfile.mergeSuggestion).toContain('LABEL team=fraud');
    expect(after.dockerfile.mergeSuggestion).toContain('COPY ["project/data/lookup.csv","/app/data/lookup.csv"]');
    // requirements were not edited: they simply follow the generator
    expect(after.requirements).toMatchObject({ edited: null, effective: v2.requirements });
  });

  it('offers no merge when the generator changed the lines the user edited', () => {
    const edits = repo();
    edits.regenerate(P, v1);
    const mine = v1.requirements.replace('numpy==1.24.2', 'numpy==1.26.4');
    edits.save(P, { requirements: mine });
    const v3 = generateFiles(fakeAnalysis({ dependencies: [dep('scikit-learn', '1.2.1'), dep('numpy', '1.25.0'), dep('joblib', '1.2.0')] }), settings);
    const after = edits.regenerate(P, v3);
    expect(after.requirements.effective).toBe(mine);
    expect(after.requirements.generatorDiff).toContain('-numpy==1.24.2');
    expect(after.requirements.generatorDiff).toContain('+numpy==1.25.0');
    expect(after.requirements.mergeSuggestion).toBeNull();
  });

  it('saving again after seeing the diff rebases the edit on the new generated text', () => {
    const edits = repo();
    edits.regenerate(P, v1);
    const mine = `${v1.requirements}requests==2.28.1\n`;
    edits.save(P, { requirements: mine });
    const stale = edits.regenerate(P, v2);
    expect(stale.requirements.generatorChanged).toBe(true);
    const rebased = edits.save(P, { requirements: stale.requirements.mergeSuggestion! });
    expect(rebased.requirements).toMatchObject({ basedOn: v2.requirements, generatorChanged: false, generatorDiff: null });
    expect(rebased.requirements.effective).toContain('pandas==1.5.3');
    expect(rebased.requirements.effective).toContain('requests==2.28.1');
  });

  it('an edit equal to the generated text is no edit, and reset drops edits', () => {
    const edits = repo();
    edits.regenerate(P, v1);
    expect(edits.save(P, { dockerfile: v1.dockerfile }).dockerfile.edited).toBeNull();
    edits.save(P, { dockerfile: `${v1.dockerfile}# mine\n`, requirements: `${v1.requirements}# mine\n` });
    const reset = edits.reset(P, ['dockerfile']);
    expect(reset.dockerfile).toMatchObject({ edited: null, effective: v1.dockerfile });
    expect(reset.requirements.edited).toBe(`${v1.requirements}# mine\n`);
    expect(edits.reset(P).requirements.edited).toBeNull();
  });

  it('keeps edits per project and survives reopening the database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-edits-'));
    dirs.push(dir);
    let db = openDatabase(join(dir, 'berth.db'));
    createEditsRepo(db).regenerate(P, v1);
    createEditsRepo(db).regenerate('/projects/other', v1);
    createEditsRepo(db).save(P, { dockerfile: `${v1.dockerfile}# mine\n` });
    db.close();
    db = openDatabase(join(dir, 'berth.db'));
    dbs.push(db);
    const edits = createEditsRepo(db);
    expect(edits.current(P).dockerfile.edited).toBe(`${v1.dockerfile}# mine\n`);
    expect(edits.current('/projects/other').dockerfile.edited).toBeNull();
  });

  it('asks to prepare first when nothing was generated for the project', () => {
    const error = (() => {
      try {
        repo().save('/projects/never-opened', { dockerfile: 'FROM x\n' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BerthError);
    expect((error as BerthError).kind).toBe('NotFound');
  });
});
