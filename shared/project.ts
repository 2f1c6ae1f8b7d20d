import { z } from 'zod';
import { ProjectFile } from './project-file';

/**
 * Project analysis: what Berth learned from a notebook project before building it.
 *
 * Conventions:
 * - Paths inside the project are relative to `root`, with forward slashes.
 * - `cell` is the 0-based index into the notebook's `cells` array (markdown cells count);
 *   human-readable messages say "cell N" with N = cell + 1, as the cells appear on screen.
 * - `line` is 1-based.
 */

export const Severity = z.enum(['error', 'warning', 'info']);
export type Severity = z.infer<typeof Severity>;

/** Stable codes for pre-build checks. `error` findings block the build; `warning` and `info` don't. */
export const FindingCode = z.enum([
  'invalid-notebook',
  'import-not-installed',
  'import-ambiguous',
  'pickle-version-mismatch',
  'pickle-main-reference',
  'pickle-unreadable',
  'lfs-pointer',
  'absolute-path',
  'missing-file',
  'path-outside-project',
  'training-at-start',
  'python-version-mismatch',
  'shell-command',
  'cell-magic',
  'line-magic',
  'syntax-error',
  'no-entrypoint',
  'several-notebooks',
  'sample-missing',
  'sample-failed',
  'sample-output-differs',
  'requirement-not-pinned',
  'requirement-invalid',
]);
export type FindingCode = z.infer<typeof FindingCode>;

/** Where something is: a file in the project, and for notebooks the cell (and line within the cell). */
export const SourceLocation = z.object({
  file: z.string(),
  cell: z.number().int().nonnegative().optional(),
  line: z.number().int().positive().optional(),
});
export type SourceLocation = z.infer<typeof SourceLocation>;

export const NotebookCellRef = z.object({
  notebook: z.string(),
  cell: z.number().int().nonnegative(),
});
export type NotebookCellRef = z.infer<typeof NotebookCellRef>;

export const CheckFinding = z.object({
  code: FindingCode,
  severity: Severity,
  /** What is wrong and what to do about it. */
  message: z.string(),
  location: SourceLocation.optional(),
  /** The thing the finding is about (an import name, a file path, ...), for grouping in the UI. */
  subject: z.string().optional(),
});
export type CheckFinding = z.infer<typeof CheckFinding>;

export const NotebookInfo = z.object({
  path: z.string(),
  cellCount: z.number().int().nonnegative(),
  codeCellCount: z.number().int().nonnegative(),
  kernelspec: z.object({ name: z.string(), displayName: z.string().nullable(), language: z.string().nullable() }).nullable(),
  languageInfo: z.object({ name: z.string(), version: z.string().nullable() }).nullable(),
  /** Top-level function names, in order. */
  functions: z.array(z.string()),
  /** Set when the notebook could not be read; such a notebook cannot be chosen. */
  error: z.string().nullable(),
});
export type NotebookInfo = z.infer<typeof NotebookInfo>;

export const InterpreterSource = z.enum(['override', 'venv', 'conda', 'kernelspec', 'path']);
export type InterpreterSource = z.infer<typeof InterpreterSource>;

export const InterpreterInfo = z.object({
  /** The path Berth runs (as found, e.g. `.venv/bin/python`, absolute). */
  path: z.string(),
  /** What the interpreter reports as `sys.executable`. */
  executable: z.string(),
  /** major.minor.micro */
  version: z.string(),
  source: InterpreterSource,
});
export type InterpreterInfo = z.infer<typeof InterpreterInfo>;

/** Another interpreter on this computer that has every package the analysed one lacks. */
export const OtherInterpreter = z.object({
  path: z.string(),
  /** Where Berth found it: "system", "conda env ds", "virtualenv beside the project", ... */
  label: z.string(),
  /** The distributions that provide the missing imports there. */
  packages: z.array(z.object({ name: z.string(), version: z.string().nullable() })),
});
export type OtherInterpreter = z.infer<typeof OtherInterpreter>;

export const NotebookFunction = NotebookCellRef.extend({
  name: z.string(),
  /** Line of the `def` within the cell. */
  line: z.number().int().positive(),
  params: z.array(z.string()),
});
export type NotebookFunction = z.infer<typeof NotebookFunction>;

export const CellMapEntry = z.object({
  cell: z.number().int().nonnegative(),
  /** Module lines (1-based, inclusive) that hold this cell's code. */
  startLine: z.number().int().positive(),
  endLine: z.number().int().positive(),
});
export type CellMapEntry = z.infer<typeof CellMapEntry>;

/** `uses-sample`: an untagged cell that reads the sample variable (e.g. `print(predict(sample_input))`). */
export const ExcludedCellReason = z.enum(['training', 'skip-deploy', 'sample-input', 'uses-sample', 'cell-magic', 'empty']);
export type ExcludedCellReason = z.infer<typeof ExcludedCellReason>;

export const InferenceModule = z.object({
  notebook: z.string(),
  source: z.string(),
  cellMap: z.array(CellMapEntry),
  excludedCells: z.array(z.object({ cell: z.number().int().nonnegative(), reason: ExcludedCellReason })),
});
export type InferenceModule = z.infer<typeof InferenceModule>;

export const DependencySource = z.enum(['import', 'pip-magic', 'requirements', 'pyproject', 'environment', 'model-file']);
export type DependencySource = z.infer<typeof DependencySource>;

export const DependencyStatus = z.enum([
  /** `==version` */
  'pinned',
  /** Declared with a range or without a version and not installed: the build resolves it. */
  'unpinned',
  /** Imported but no installed distribution provides it: the user must say which (blocks the build). */
  'unresolved',
  /** Several installed distributions provide the import: the user must choose (blocks the build). */
  'ambiguous',
]);
export type DependencyStatus = z.infer<typeof DependencyStatus>;

export const Dependency = z.object({
  /** Distribution name as installed/declared (for unresolved ones: the import name). */
  name: z.string(),
  version: z.string().nullable(),
  /** The version part of the requirement: `==1.2.1`, `>=1.5`, or '' */
  specifier: z.string(),
  /** The line for requirements.txt, or null when it cannot be written yet (unresolved/ambiguous). */
  requirement: z.string().nullable(),
  status: DependencyStatus,
  /** Where the version came from. */
  source: DependencySource,
  /** Top-level import names this distribution provides to the module. */
  imports: z.array(z.string()),
  /** For ambiguous imports: the installed distributions that provide it. */
  candidates: z.array(z.string()),
  /** Why it is needed: "import sklearn (cell 3)", "%pip in cell 1", "requirements.txt line 2", ... */
  why: z.array(z.string()),
});
export type Dependency = z.infer<typeof Dependency>;

export const PickleInfo = z.object({
  /** True when every opcode was walked; false when only scanned (joblib buffers, damaged files). */
  exact: z.boolean(),
  compression: z.string().nullable(),
  modules: z.array(z.string()),
  mainRefs: z.array(z.string()),
  sklearnVersions: z.array(z.string()),
  error: z.string().nullable(),
});
export type PickleInfo = z.infer<typeof PickleInfo>;

export const ReferencedFile = z.object({
  /** The path as written in the code. */
  path: z.string(),
  /** Relative to the project root (posix), or null when it lies outside the project or is absolute. */
  projectPath: z.string().nullable(),
  kind: z.enum(['model', 'data']),
  /** The call that reads it, e.g. `joblib.load`, `pd.read_csv`, `open`. */
  call: z.string(),
  location: SourceLocation,
  exists: z.boolean(),
  sizeBytes: z.number().int().nonnegative().nullable(),
  lfsPointer: z.boolean(),
  pickle: PickleInfo.nullable(),
});
export type ReferencedFile = z.infer<typeof ReferencedFile>;

export const RequirementEntry = z.object({
  /** Normalised distribution name (PEP 503: lower case, runs of -_. become -). */
  name: z.string(),
  /** Name as written. */
  rawName: z.string(),
  /** e.g. `==1.2.1`, `>=1.5,<2`, or '' */
  specifier: z.string(),
  extras: z.array(z.string()),
  marker: z.string().nullable(),
  /** The full line / string as written. */
  raw: z.string(),
  file: z.string(),
  line: z.number().int().positive().nullable(),
});
export type RequirementEntry = z.infer<typeof RequirementEntry>;

export const EnvFiles = z.object({
  /** Environment files found (relative paths). */
  found: z.array(z.string()),
  /** From requirements*.txt, pyproject.toml [project.dependencies], environment.yml `pip:`. */
  requirements: z.array(RequirementEntry),
  /** Python versions the project asks for: .python-version, runtime.txt, environment.yml, pyproject requires-python. */
  python: z.array(z.object({ file: z.string(), value: z.string() })),
  aptPackages: z.array(z.string()),
  conda: z.object({ file: z.string(), name: z.string().nullable(), dependencies: z.array(z.string()) }).nullable(),
});
export type EnvFiles = z.infer<typeof EnvFiles>;

export const SampleIO = z.object({
  /** The sample-input cell and the variable it assigns. */
  cell: z.number().int().nonnegative(),
  variable: z.string(),
  /** The sample as JSON (what the served model will be sent). */
  input: z.json(),
  /** What `entrypoint(input)` returned in the project interpreter, as JSON. */
  expectedOutput: z.json(),
  /** `str()` of the result, compared with the notebook's stored output when there is one. */
  outputText: z.string().nullable(),
  storedOutputText: z.string().nullable(),
});
export type SampleIO = z.infer<typeof SampleIO>;

export const ProjectAnalysis = z.object({
  /** Absolute path of the project folder (for a single .ipynb: its folder). */
  root: z.string(),
  /** Slug for image/service names: [a-z0-9-]. */
  name: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/),
  /** The project's berth.toml (its deployment), or null when it has none. */
  projectFile: ProjectFile.nullable(),
  /** The notebook the module was built from (relative path). */
  notebook: z.string(),
  notebooks: z.array(NotebookInfo),
  /** sha256 (hex) of the chosen notebook file's bytes. */
  notebookHash: z.string(),
  interpreter: InterpreterInfo,
  /** major.minor.micro of the interpreter. */
  pythonVersion: z.string(),
  functions: z.array(NotebookFunction),
  entrypoint: z.string().nullable(),
  module: InferenceModule,
  dependencies: z.array(Dependency),
  sample: SampleIO.nullable(),
  files: z.object({ models: z.array(ReferencedFile), data: z.array(ReferencedFile) }),
  envFiles: EnvFiles,
  /** Local .py modules the module imports (relative paths); they belong in the image. */
  localModules: z.array(z.string()),
  findings: z.array(CheckFinding),
  /** Set when imports are not installed in the interpreter: the other interpreters found that have them all (maybe none). */
  otherInterpreters: z.array(OtherInterpreter).optional(),
  analyzedAt: z.string(),
});
export type ProjectAnalysis = z.infer<typeof ProjectAnalysis>;

/** True when a finding stops the build. */
export function blocksBuild(f: Pick<CheckFinding, 'severity'>): boolean {
  return f.severity === 'error';
}

export const AnalyzeOptions = z.object({
  /** Interpreter to use instead of the one Berth finds. */
  interpreter: z.string().min(1).optional(),
  /** Function to serve instead of predict/infer/score. */
  entrypoint: z.string().min(1).optional(),
  /** Notebook to use when the folder holds several (relative to the folder). */
  notebook: z.string().min(1).optional(),
  /** Run the sample through the module (default true). */
  evaluateSample: z.boolean().optional(),
});
export type AnalyzeOptions = z.infer<typeof AnalyzeOptions>;
