import type { Dependency, ProjectAnalysis, ReferencedFile } from '../../../shared/project';

/** A dependency as the analysis reports a pinned one. */
export function dep(name: string, version: string | null, extra: Partial<Dependency> = {}): Dependency {
  return {
    name,
    version,
    specifier: version ? `==${version}` : '',
    requirement: version ? `${name}==${version}` : null,
    status: version ? 'pinned' : 'unresolved',
    source: 'import',
    imports: [name],
    candidates: [],
    why: [`import ${name}`],
    ...extra,
  };
}

export function fileRef(projectPath: string, kind: 'model' | 'data', extra: Partial<ReferencedFile> = {}): ReferencedFile {
  return {
    path: projectPath,
    projectPath,
    kind,
    call: kind === 'model' ? 'joblib.load' : 'pd.read_csv',
    location: { file: 'model.ipynb', cell: 2, line: 1 },
    exists: true,
    sizeBytes: 10,
    lfsPointer: false,
    pickle: null,
    ...extra,
  };
}

/** A small but complete analysis of an iris-like project (what project analysis returns). */
export function fakeAnalysis(overrides: Partial<ProjectAnalysis> = {}): ProjectAnalysis {
  return {
    root: '/projects/iris',
    name: 'iris',
    projectFile: null,
    notebook: 'model.ipynb',
    notebooks: [],
    notebookHash: 'a'.repeat(64),
    interpreter: { path: '/usr/bin/python3', executable: '/usr/bin/python3', version: '3.11.2', source: 'override' },
    pythonVersion: '3.11.2',
    functions: [{ notebook: 'model.ipynb', cell: 2, name: 'predict', line: 3, params: ['inputs'] }],
    entrypoint: 'predict',
    module: { notebook: 'model.ipynb', source: 'def predict(inputs):\n    return [0 for _ in inputs]\n', cellMap: [], excludedCells: [] },
    dependencies: [dep('scikit-learn', '1.2.1', { imports: ['sklearn'] }), dep('numpy', '1.24.2'), dep('joblib', '1.2.0')],
    sample: { cell: 3, variable: 'sample_input', input: [[5.1, 3.5, 1.4, 0.2]], expectedOutput: [0], outputText: '[0]', storedOutputText: null },
    files: { models: [fileRef('model.joblib', 'model')], data: [] },
    envFiles: { found: [], requirements: [], python: [], aptPackages: [], conda: null },
    localModules: [],
    findings: [],
    analyzedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}
