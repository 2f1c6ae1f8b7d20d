import { describe, expect, it } from 'vitest';
import { type DeclaredRequirement, type ImportEntry, resolveDependencies } from '../../../electron/main/services/project/dependencies';

const imp = (name: string, kind: ImportEntry['kind'], dists: [string, string | null][] = [], cell = 2, extra: Partial<ImportEntry> = {}): ImportEntry => ({
  name,
  kind,
  modules: [name],
  refs: [{ module: name, cell, line: 1 }],
  distributions: dists.map(([n, v]) => ({ name: n, version: v })),
  ...extra,
});
const decl = (rawName: string, specifier: string, source: DeclaredRequirement['source'], why: string): DeclaredRequirement => ({
  name: rawName.toLowerCase().replace(/[-_.]+/g, '-'),
  rawName,
  specifier,
  extras: [],
  marker: null,
  source,
  why,
});
const base = { notebook: 'model.ipynb', interpreter: '/usr/bin/python3', distVersions: {} as Record<string, string | null> };

describe('resolveDependencies', () => {
  it('pins installed distributions and leaves out stdlib and local modules', () => {
    const { dependencies, findings } = resolveDependencies({
      ...base,
      imports: [imp('os', 'stdlib'), imp('helpers', 'local'), imp('sklearn', 'installed', [['scikit-learn', '1.2.1']]), imp('numpy', 'installed', [['numpy', '1.24.2']])],
      declared: [],
    });
    expect(findings).toEqual([]);
    expect(dependencies.map((d) => [d.name, d.requirement, d.status, d.source])).toEqual([
      ['numpy', 'numpy==1.24.2', 'pinned', 'import'],
      ['scikit-learn', 'scikit-learn==1.2.1', 'pinned', 'import'],
    ]);
    expect(dependencies[1].why).toEqual(['import sklearn (model.ipynb cell 3)']);
    expect(dependencies[1].imports).toEqual(['sklearn']);
  });

  it('lets %pip pins win over the installed version and over requirements.txt, and merges the reasons', () => {
    const { dependencies } = resolveDependencies({
      ...base,
      imports: [imp('sklearn', 'installed', [['scikit-learn', '1.3.0']])],
      declared: [decl('scikit-learn', '>=1.0', 'requirements', 'requirements.txt line 1'), decl('scikit-learn', '==1.2.1', 'pip-magic', '%pip in cell 1')],
    });
    expect(dependencies).toHaveLength(1);
    expect(dependencies[0]).toMatchObject({ name: 'scikit-learn', version: '1.2.1', requirement: 'scikit-learn==1.2.1', source: 'pip-magic' });
    expect(dependencies[0].why).toEqual(['%pip in cell 1', 'requirements.txt line 1', 'import sklearn (model.ipynb cell 3)']);
  });

  it('pins declared ranges to the installed version, and warns about ranges it cannot pin', () => {
    const { dependencies, findings } = resolveDependencies({
      ...base,
      imports: [],
      declared: [decl('pandas', '>=1.5', 'requirements', 'requirements.txt line 1'), decl('polars', '>=1', 'requirements', 'requirements.txt line 2')],
      distVersions: { pandas: '1.5.3', polars: null },
    });
    expect(dependencies.map((d) => [d.name, d.requirement, d.status, d.source])).toEqual([
      ['pandas', 'pandas==1.5.3', 'pinned', 'requirements'],
      ['polars', 'polars>=1', 'unpinned', 'requirements'],
    ]);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'requirement-not-pinned', severity: 'warning', subject: 'polars' });
    expect(findings[0].message).toBe(
      '`polars>=1` (requirements.txt line 2) has no exact version and is not installed in /usr/bin/python3, so each build may get a different version than you tested. Install it there and analyse again, or pin it (`polars==VERSION`).',
    );
  });

  it('never guesses an import with no installed distribution: it is unresolved with an error', () => {
    const { dependencies, findings } = resolveDependencies({ ...base, imports: [imp('lightgbm', 'unresolved', [], 0)], declared: [] });
    expect(dependencies).toEqual([
      { name: 'lightgbm', version: null, specifier: '', requirement: null, status: 'unresolved', source: 'import', imports: ['lightgbm'], candidates: [], why: ['import lightgbm (model.ipynb cell 1)'] },
    ]);
    expect(findings).toEqual([
      {
        code: 'import-not-installed',
        severity: 'error',
        subject: 'lightgbm',
        location: { file: 'model.ipynb', cell: 0, line: 1 },
        message:
          '`lightgbm` (imported in model.ipynb cell 1) is not installed in /usr/bin/python3, so Berth cannot tell which package and version the model needs. ' +
          'Install it there (`/usr/bin/python3 -m pip install lightgbm`), choose the interpreter the notebook runs with, or add it with a version to requirements.txt; then analyse again.',
      },
    ]);
  });

  it('suggests the well-known package name but still does not add it', () => {
    const { dependencies, findings } = resolveDependencies({ ...base, imports: [imp('cv2', 'unresolved')], declared: [] });
    expect(dependencies[0].status).toBe('unresolved');
    expect(findings[0].message).toContain('-m pip install opencv-python');
  });

  it('accepts a declaration for a missing import, with a warning', () => {
    const { dependencies, findings } = resolveDependencies({
      ...base,
      imports: [imp('sklearn', 'unresolved')],
      declared: [decl('scikit-learn', '==1.2.1', 'requirements', 'requirements.txt line 3')],
    });
    expect(dependencies.map((d) => [d.requirement, d.imports])).toEqual([['scikit-learn==1.2.1', ['sklearn']]]);
    expect(findings[0]).toMatchObject({ code: 'import-not-installed', severity: 'warning' });
    expect(findings[0].message).toBe(
      '`sklearn` (imported in model.ipynb cell 3) is not installed in /usr/bin/python3. requirements.txt line 3 asks for `scikit-learn==1.2.1`, which the build will install, but Berth cannot check the version or run the sample with it. Install it into that interpreter to test locally.',
    );
  });

  it('reports an import provided by several distributions as ambiguous unless one is declared', () => {
    const ambiguous = imp('google', 'ambiguous', [
      ['protobuf', '4.21.0'],
      ['google-cloud-storage', '2.0.0'],
    ]);
    const a = resolveDependencies({ ...base, imports: [ambiguous], declared: [] });
    expect(a.dependencies[0]).toMatchObject({ name: 'google', status: 'ambiguous', candidates: ['protobuf', 'google-cloud-storage'], requirement: null });
    expect(a.findings[0]).toMatchObject({ code: 'import-ambiguous', severity: 'error' });
    expect(a.findings[0].message).toBe(
      '`google` (imported in model.ipynb cell 3) is provided by several installed packages: protobuf, google-cloud-storage. Berth will not guess which one the model needs: add the right one to requirements.txt with its version (for example `protobuf==4.21.0`).',
    );
    const b = resolveDependencies({ ...base, imports: [ambiguous], declared: [decl('google-cloud-storage', '', 'requirements', 'requirements.txt line 1')] });
    expect(b.findings).toEqual([]);
    expect(b.dependencies.map((d) => d.requirement)).toEqual(['google-cloud-storage==2.0.0']);
  });

  it('marks distributions needed only by pickled models', () => {
    const e: ImportEntry = { name: 'sklearn', kind: 'installed', modules: ['sklearn.linear_model._logistic'], refs: [{ module: 'sklearn.linear_model._logistic', model: 'model.joblib' }], distributions: [{ name: 'scikit-learn', version: '1.2.1' }] };
    const { dependencies } = resolveDependencies({ ...base, imports: [e], declared: [] });
    expect(dependencies[0]).toMatchObject({ source: 'model-file', why: ['needed to load model.joblib'] });
  });
});
