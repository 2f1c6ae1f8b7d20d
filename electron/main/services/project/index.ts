/**
 * Project analysis: reads a notebook project (never writes to it), extracts the inference module,
 * pins dependencies with the project's own interpreter and runs the pre-build checks.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type {
  AnalyzeOptions,
  CheckFinding,
  EnvFiles,
  InterpreterInfo,
  NotebookFunction,
  NotebookInfo,
  OtherInterpreter,
  PickleInfo,
  ProjectAnalysis,
  ReferencedFile,
  SampleIO,
  SourceLocation,
} from '../../../../shared/project';
import {
  absoluteLiteralFinding,
  cellName,
  fileFindings,
  isAbsolutePath,
  lfsFinding,
  looksLikeUserPath,
  magicFindings,
  pythonVersionFindings,
  syntaxFinding,
  trainingFinding,
} from './checks';
import { type DeclaredRequirement, type ImportEntry, type ImportRef, resolveDependencies } from './dependencies';
import { isLfsPointer, scanProject, slugify, toPosix } from './discover';
import { readProjectFile } from './project-file';
import { findEnvFiles, pep508Text, readEnvFiles } from './envfiles';
import { findInterpreter, type InterpreterLookup, systemLookup } from './interpreter';
import { type CandidateLookup, interpretersWith, listInterpreterCandidates, type ListCandidatesInput, systemCandidateLookup } from './interpreter-candidates';
import { buildModule, type CellPlan } from './module';
import { type NotebookCell, type ParsedNotebook, parseNotebook } from './notebook';
import { callHelper, defaultHelperDir, HelperTimeout, type RunPython, spawnPython, tail } from './python';
import { readRequirements, type RequirementText } from './requirements';
import { transformCell, type TransformedCell } from './transform';

export { spawnPython, type RunPython, type RunPythonRequest, type RunPythonResult } from './python';

/** Function names tried, in order, when the user does not choose the entrypoint and the sample cell calls none. */
export const ENTRYPOINT_PREFERENCE = ['predict', 'infer', 'score'] as const;
/** The name the sample gets when the sample cell passes it to the entrypoint without naming it: `predict({"x": 1})`. */
const SAMPLE_VAR = 'sample_input';

export interface ProjectServiceDeps {
  /** Runs the project's interpreter (default: spawn). */
  runPython?: RunPython;
  /** Folder holding berth_project.py (default: resources/python of the app). */
  helperDir?: string;
  /** Clock for `analyzedAt`. */
  now?: () => Date;
  /** Where interpreter discovery looks (home, PATH, files). */
  lookup?: InterpreterLookup;
  /** Where Berth looks for other interpreters when the project's lacks packages (default: this computer). */
  candidateLookup?: CandidateLookup;
  timeouts?: { probeMs?: number; analysisMs?: number; sampleMs?: number };
}

export interface ProjectService {
  analyze(target: string, opts?: AnalyzeOptions): Promise<ProjectAnalysis>;
}

/** Output of the helper's `code` command for one chunk of code. */
export interface CodeAnalysis {
  id?: string;
  syntaxError?: { line: number; col: number; message: string };
  functions?: { name: string; line: number; params: string[]; async: boolean }[];
  classes?: { name: string; line: number }[];
  assigned?: string[];
  imports?: { module: string; line: number; level: number; names?: string[]; dynamic?: boolean }[];
  fileRefs?: { path: string; line: number; call: string; kind: 'model' | 'data' | 'output'; mode: string | null }[];
  absolutePaths?: { value: string; line: number }[];
  training?: { line: number; call: string }[];
  loadedNames?: string[];
  calls?: CellCall[];
}

/** A top-level statement calling one function with one argument: `f(x)`, `y = f(x)` or `print(f(x))`. */
interface CellCall {
  function: string;
  line: number;
  endLine: number;
  /** The argument when it is a plain name, else null (`f({"x": 1})`). */
  argument: string | null;
  argumentSource: string;
  /** The cell's stored output is this call's answer. */
  shown: boolean;
}

interface ImportsResult {
  imports: ImportEntry[];
  localFiles: (CodeAnalysis & { file: string; error?: string })[];
  distVersions: Record<string, string | null>;
}

interface PickleResult {
  path: string;
  size?: number;
  format?: string;
  compression?: string | null;
  exact?: boolean;
  modules?: string[];
  mainRefs?: string[];
  sklearnVersions?: string[];
  error?: string;
}

interface SampleResult {
  ok: boolean;
  stage?: 'module' | 'sample' | 'entrypoint' | 'serialize-input' | 'serialize-output';
  error?: string;
  traceback?: string;
  moduleLine?: number | null;
  input?: unknown;
  output?: unknown;
  outputText?: string | null;
  outputRepr?: string;
}

const PICKLE_EXTS = /\.(pkl|pickle|joblib|sav|pt|pth|ckpt|dill|cloudpickle)$/i;
const PICKLE_CALLS = /(^|\.)(joblib|pickle|dill|cloudpickle|torch)\.load$|(^|\.)read_pickle$/;
const PROBE_CODE =
  'import sys, json; print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % tuple(sys.version_info[:3])}))';

function severityRank(f: CheckFinding): number {
  return f.severity === 'error' ? 0 : f.severity === 'warning' ? 1 : 2;
}

function definesFunctions(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/gm)) names.push(m[1]);
  return names;
}

function isDeployCell(c: NotebookCell): boolean {
  return c.cellType === 'code' && !c.tags.includes('training') && !c.tags.includes('skip-deploy') && !c.tags.includes('sample-input');
}

/** Why a cell is left out whatever the sample is: its tags, or a cell magic that cannot be served. */
function fixedExclusion(c: NotebookCell, t: TransformedCell): CellPlan['exclude'] {
  if (c.tags.includes('training')) return 'training';
  if (c.tags.includes('skip-deploy')) return 'skip-deploy';
  if (c.tags.includes('sample-input')) return 'sample-input';
  if (t.cellMagic && !t.cellMagic.kept) return 'cell-magic';
  return null;
}

/**
 * The sample cell's call of a served function, which names the entrypoint and passes the sample: the call of the
 * chosen entrypoint, else of the one function the cell calls, else of the preferred name among those it calls.
 */
function pickSampleCall(calls: CellCall[], served: Set<string>, chosen: string | undefined): CellCall | null {
  const candidates = calls.filter((c) => served.has(c.function));
  if (chosen) return candidates.find((c) => c.function === chosen) ?? null;
  const names = new Set(candidates.map((c) => c.function));
  if (names.size === 1) return candidates[0];
  const preferred = ENTRYPOINT_PREFERENCE.find((n) => names.has(n));
  return candidates.find((c) => c.function === preferred) ?? null;
}

/** The sample cell's code up to its call of the entrypoint (so the sample stage runs no model), the argument bound to a name. */
function sampleCode(code: string, call: CellCall | null): string {
  if (!call) return code;
  const before = code.split('\n').slice(0, call.line - 1);
  if (!call.argument) before.push(`${SAMPLE_VAR} = (${call.argumentSource})`);
  return before.join('\n');
}

function normText(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

export function createProjectService(deps: ProjectServiceDeps = {}): ProjectService {
  const run = deps.runPython ?? spawnPython;
  const now = deps.now ?? (() => new Date());
  const lookup = deps.lookup ?? systemLookup();
  const candidateLookup = deps.candidateLookup ?? systemCandidateLookup();
  const probeMs = deps.timeouts?.probeMs ?? 20_000;
  const analysisMs = deps.timeouts?.analysisMs ?? 60_000;
  const sampleMs = Math.min(deps.timeouts?.sampleMs ?? 60_000, 60_000);
  let helperDir = deps.helperDir;
  const helper = () => (helperDir ??= defaultHelperDir());

  async function probe(interpreter: string, source: InterpreterInfo['source'], cwd: string): Promise<InterpreterInfo> {
    const res = await run({ interpreter, args: ['-c', PROBE_CODE], cwd, timeoutMs: probeMs });
    let info: { executable: string; version: string } | null = null;
    try {
      info = JSON.parse(res.stdout.trim().split('\n').pop() ?? '');
    } catch {
      info = null;
    }
    if (res.timedOut || !info) {
      throw new BerthError(
        'NotFound',
        `${interpreter} did not run as a Python interpreter (${res.timedOut ? 'it did not answer within ' + probeMs / 1000 + ' s' : tail(res.stderr, 4) || 'no output'}). ` +
          'Choose the Python interpreter the notebook runs with.',
      );
    }
    const [maj, min] = info.version.split('.').map(Number);
    if (maj < 3 || (maj === 3 && min < 8)) {
      throw new BerthError(
        'ValidationError',
        `${interpreter} is Python ${info.version}; Berth needs Python 3.8 or newer to analyse a project. Choose a newer interpreter for this project.`,
      );
    }
    return { path: interpreter, executable: info.executable || interpreter, version: info.version, source };
  }

  async function analyze(target: string, options: AnalyzeOptions = {}): Promise<ProjectAnalysis> {
    const findings: CheckFinding[] = [];
    const abs = path.resolve(target);
    // The project's berth.toml names the model, notebook and entrypoint; what the caller asks for explicitly wins.
    const projectFile = await readProjectFile(abs);
    const opts: AnalyzeOptions = { ...options, entrypoint: options.entrypoint ?? projectFile?.entrypoint, notebook: options.notebook ?? projectFile?.notebook };
    let st;
    try {
      st = await fs.stat(abs);
    } catch {
      throw new BerthError('NotFound', `${abs} does not exist. Choose a project folder or a .ipynb file.`);
    }

    // ------------------------------------------------------------------ notebooks
    let root: string;
    let notebookPaths: string[];
    let smallFiles: string[] = [];
    let name: string;
    if (st.isDirectory()) {
      root = abs;
      const scan = await scanProject(root);
      notebookPaths = scan.notebooks;
      smallFiles = scan.smallFiles;
      name = projectFile?.model ?? slugify(path.basename(root));
      if (!notebookPaths.length) {
        throw new BerthError(
          'ProjectInvalid',
          `No notebook (.ipynb) was found in ${root} (Berth skips .ipynb_checkpoints, virtual environments, node_modules and hidden folders). ` +
            'Choose the folder that holds your notebook, or the .ipynb file itself.',
        );
      }
    } else if (st.isFile() && abs.toLowerCase().endsWith('.ipynb')) {
      root = path.dirname(abs);
      notebookPaths = [path.basename(abs)];
      name = projectFile?.model ?? slugify(path.basename(abs).replace(/\.ipynb$/i, ''));
    } else {
      throw new BerthError('ValidationError', `${abs} is not a notebook. Choose a project folder or a .ipynb file.`);
    }

    const parsed = new Map<string, { nb?: ParsedNotebook; bytes?: Buffer; error?: BerthError }>();
    for (const rel of notebookPaths) {
      try {
        const bytes = await fs.readFile(path.join(root, rel));
        parsed.set(rel, { nb: parseNotebook(bytes.toString('utf8'), rel), bytes });
      } catch (err) {
        parsed.set(rel, { error: err instanceof BerthError ? err : new BerthError('ProjectInvalid', `${rel} could not be read: ${(err as Error).message}`) });
      }
    }
    const notebooks: NotebookInfo[] = notebookPaths.map((rel) => {
      const p = parsed.get(rel)!;
      const nb = p.nb;
      return {
        path: rel,
        cellCount: nb?.cells.length ?? 0,
        codeCellCount: nb?.cells.filter((c) => c.cellType === 'code').length ?? 0,
        kernelspec: nb?.kernelspec ?? null,
        languageInfo: nb?.languageInfo ?? null,
        functions: nb ? nb.cells.filter(isDeployCell).flatMap((c) => definesFunctions(c.source)) : [],
        error: p.error?.message ?? null,
      };
    });

    let chosen: string;
    if (opts.notebook) {
      const want = toPosix(path.normalize(opts.notebook));
      if (!parsed.has(want)) {
        throw new BerthError('ValidationError', `There is no notebook ${opts.notebook} in the project. Choose one of: ${notebookPaths.join(', ')}.`);
      }
      chosen = want;
    } else if (notebookPaths.length === 1) {
      chosen = notebookPaths[0];
    } else {
      const valid = notebooks.filter((n) => !n.error);
      const wanted = opts.entrypoint ? [opts.entrypoint] : [...ENTRYPOINT_PREFERENCE];
      const score = (n: NotebookInfo) =>
        (n.functions.some((f) => wanted.includes(f)) ? 0 : 10) +
        (/^(model|inference|predict|serve|serving|deploy)\.ipynb$/i.test(path.basename(n.path)) ? 0 : 1) +
        n.path.split('/').length;
      const ranked = [...(valid.length ? valid : notebooks)].sort((a, b) => score(a) - score(b) || a.path.localeCompare(b.path));
      chosen = ranked[0].path;
      findings.push({
        code: 'several-notebooks',
        severity: 'info',
        subject: chosen,
        location: { file: chosen },
        message: `The project has ${notebookPaths.length} notebooks; Berth uses ${chosen}. Choose another notebook if the model is served from a different one.`,
      });
    }
    const chosenEntry = parsed.get(chosen)!;
    if (chosenEntry.error || !chosenEntry.nb || !chosenEntry.bytes) throw chosenEntry.error!;
    for (const n of notebooks) {
      if (n.error && n.path !== chosen) {
        findings.push({ code: 'invalid-notebook', severity: 'warning', subject: n.path, location: { file: n.path }, message: n.error });
      }
    }
    const nb = chosenEntry.nb;
    const notebookHash = createHash('sha256').update(chosenEntry.bytes).digest('hex');
    const notebookDir = path.join(root, path.dirname(chosen));
    const notebookDirRel = toPosix(path.relative(root, notebookDir)) || '.';

    // ------------------------------------------------------------------ environment files + interpreter
    const envNames = await findEnvFiles(root, [...new Set([notebookDirRel, '.'])]);
    const { requirementTexts, ...envContents } = await readEnvFiles(root, envNames);
    const choice = await findInterpreter(
      { root, notebookDir, override: opts.interpreter, condaEnvName: envContents.conda?.name ?? null, kernelName: nb.kernelspec?.name ?? null },
      lookup,
    );
    const interpreter = await probe(choice.path, choice.source, root);
    const py = interpreter.path;
    const helperCall = async <T>(command: 'code' | 'imports' | 'pickles' | 'requirements', input: unknown): Promise<T> => {
      try {
        return (await callHelper<T>(run, helper(), { interpreter: py, command, input, cwd: root, timeoutMs: analysisMs })).result;
      } catch (err) {
        if (err instanceof HelperTimeout) {
          throw new BerthError(
            'ProjectInvalid',
            `Analysing the project with ${py} took longer than ${analysisMs / 1000} s (step "${command}"). Try again; if it keeps happening, choose another interpreter.`,
          );
        }
        throw err;
      }
    };

    // ------------------------------------------------------------------ cells
    const transformed = new Map<number, TransformedCell>();
    for (const c of nb.cells) if (c.cellType === 'code') transformed.set(c.index, transformCell(c.source));
    const codeResults = await helperCall<{ results: CodeAnalysis[] }>('code', {
      sources: [...transformed.entries()].map(([i, t]) => ({ id: String(i), code: t.code })),
    });
    const analysis = new Map<number, CodeAnalysis>();
    for (const r of codeResults.results) analysis.set(Number(r.id), r);

    const codeCells = nb.cells.filter((c) => c.cellType === 'code');
    const sampleCell = codeCells.find((c) => c.tags.includes('sample-input')) ?? null;
    // functions live in cells no sample can exclude (a cell that uses the sample is one without a def)
    const servedNames = new Set(
      codeCells.filter((c) => !fixedExclusion(c, transformed.get(c.index)!)).flatMap((c) => (analysis.get(c.index)?.functions ?? []).map((f) => f.name)),
    );
    const sampleCall = sampleCell ? pickSampleCall(analysis.get(sampleCell.index)?.calls ?? [], servedNames, opts.entrypoint) : null;
    let sampleVar: string | null = null;
    if (sampleCall) sampleVar = sampleCall.argument ?? SAMPLE_VAR;
    else if (sampleCell) {
      const assigned = analysis.get(sampleCell.index)?.assigned ?? [];
      sampleVar = assigned.includes(SAMPLE_VAR) ? SAMPLE_VAR : (assigned[assigned.length - 1] ?? null);
    }

    const plans: CellPlan[] = [];
    for (const c of codeCells) {
      const t = transformed.get(c.index)!;
      const a = analysis.get(c.index) ?? {};
      let exclude = fixedExclusion(c, t);
      if (!exclude && sampleVar && (a.loadedNames ?? []).includes(sampleVar) && !(a.assigned ?? []).includes(sampleVar) && !(a.functions ?? []).length)
        exclude = 'uses-sample';
      if (!exclude && !t.code.split('\n').some((l) => l.trim() && !l.trim().startsWith('#'))) exclude = 'empty';
      plans.push({ cell: c.index, code: t.code, exclude });
    }
    const module = buildModule(chosen, plans);
    const included = plans.filter((p) => !p.exclude).map((p) => p.cell);

    // magics, shell lines, syntax, training-at-start
    for (const p of plans) {
      const t = transformed.get(p.cell)!;
      // cells left out by their tags don't matter; everything else is (or would have been) served
      if (!p.exclude || p.exclude === 'cell-magic' || p.exclude === 'empty') findings.push(...magicFindings(chosen, p.cell, t));
    }
    for (const i of included) {
      const a = analysis.get(i)!;
      if (a.syntaxError) findings.push(syntaxFinding({ file: chosen, cell: i, line: a.syntaxError.line || undefined }, a.syntaxError.message));
      const tf = trainingFinding(chosen, i, a.training ?? []);
      if (tf) findings.push(tf);
    }

    // functions and entrypoint
    const functions: NotebookFunction[] = [];
    for (const i of included) {
      for (const f of analysis.get(i)?.functions ?? []) {
        const prev = functions.findIndex((x) => x.name === f.name);
        if (prev >= 0) functions.splice(prev, 1); // a later definition replaces the earlier one, as in Python
        functions.push({ notebook: chosen, cell: i, name: f.name, line: f.line, params: f.params });
      }
    }
    let entrypoint: string | null = null;
    if (opts.entrypoint) {
      if (!functions.some((f) => f.name === opts.entrypoint)) {
        throw new BerthError(
          'ValidationError',
          `${chosen} has no top-level function \`${opts.entrypoint}\` in the cells Berth serves` +
            (functions.length ? `. Choose one of: ${functions.map((f) => f.name).join(', ')}.` : '; define it in a cell that is not tagged training or skip-deploy.'),
        );
      }
      entrypoint = opts.entrypoint;
    } else {
      entrypoint = sampleCall?.function ?? ENTRYPOINT_PREFERENCE.find((n) => functions.some((f) => f.name === n)) ?? null;
      if (!entrypoint) {
        findings.push({
          code: 'no-entrypoint',
          severity: 'error',
          location: { file: chosen },
          message:
            `${chosen} defines no \`predict\`, \`infer\` or \`score\` function for Berth to serve` +
            (functions.length
              ? `. Choose the function to serve (one of: ${functions.map((f) => f.name).join(', ')}), call it in the sample-input cell ` +
                `(e.g. \`${functions[functions.length - 1].name}(sample_input)\`), or rename it to predict.`
              : '. Add a cell with `def predict(inputs): ...` that returns the model\'s answer for a list of inputs.'),
        });
      }
    }

    // ------------------------------------------------------------------ imports (with local modules)
    const importRefs: { module: string; ref: ImportRef }[] = [];
    for (const i of included) {
      for (const imp of analysis.get(i)?.imports ?? []) {
        if (imp.level === 0 && imp.module) importRefs.push({ module: imp.module, ref: { module: imp.module, cell: i, line: imp.line } });
      }
    }
    const searchDirs = [...new Set([notebookDir, root])];
    const first = await helperCall<ImportsResult>('imports', { searchDirs, root, imports: importRefs, distributions: [] });

    // ------------------------------------------------------------------ files referenced by code
    type Raw = { path: string; call: string; kind: 'model' | 'data'; location: SourceLocation };
    const rawRefs: Raw[] = [];
    const literals: { value: string; location: SourceLocation }[] = [];
    for (const i of included) {
      const a = analysis.get(i)!;
      for (const r of a.fileRefs ?? []) if (r.kind !== 'output') rawRefs.push({ path: r.path, call: r.call, kind: r.kind, location: { file: chosen, cell: i, line: r.line } });
      for (const l of a.absolutePaths ?? []) literals.push({ value: l.value, location: { file: chosen, cell: i, line: l.line } });
    }
    for (const lf of first.localFiles) {
      if (lf.syntaxError) findings.push(syntaxFinding({ file: lf.file, line: lf.syntaxError.line || undefined }, lf.syntaxError.message));
      for (const r of lf.fileRefs ?? []) if (r.kind !== 'output') rawRefs.push({ path: r.path, call: r.call, kind: r.kind, location: { file: lf.file, line: r.line } });
      for (const l of lf.absolutePaths ?? []) literals.push({ value: l.value, location: { file: lf.file, line: l.line } });
    }
    const refs: ReferencedFile[] = [];
    const seen = new Set<string>();
    for (const r of rawRefs) {
      const key = `${r.path}|${r.location.file}|${r.location.cell}|${r.location.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      let full: string | null = null;
      let projectPath: string | null = null;
      if (isAbsolutePath(r.path)) {
        full = r.path.startsWith('~') ? path.join(os.homedir(), r.path.slice(1)) : r.path;
      } else {
        full = path.resolve(notebookDir, r.path);
        const rel = path.relative(root, full);
        projectPath = rel.startsWith('..') || path.isAbsolute(rel) ? null : toPosix(rel);
      }
      let exists = false;
      let size: number | null = null;
      try {
        const s = await fs.stat(full);
        exists = true;
        size = s.isFile() ? s.size : null;
      } catch {
        exists = false;
      }
      const lfs = exists && size !== null && size < 1024 ? await isLfsPointer(full) : false;
      refs.push({ path: r.path, projectPath, kind: r.kind, call: r.call, location: r.location, exists, sizeBytes: size, lfsPointer: lfs, pickle: null });
    }

    // pickles: read opcodes only
    const toInspect = refs.filter(
      (f) => f.kind === 'model' && f.exists && f.sizeBytes !== null && !f.lfsPointer && f.projectPath !== null && (PICKLE_EXTS.test(f.path) || PICKLE_CALLS.test(f.call) || f.call === 'open'),
    );
    const pickleByPath = new Map<string, PickleInfo>();
    const uniquePaths = [...new Set(toInspect.map((f) => f.projectPath!))];
    if (uniquePaths.length) {
      const res = await helperCall<{ files: PickleResult[] }>('pickles', { files: uniquePaths.map((p) => path.join(root, p)) });
      res.files.forEach((r, idx) => {
        pickleByPath.set(uniquePaths[idx], {
          exact: r.exact ?? false,
          compression: r.compression ?? null,
          modules: r.modules ?? [],
          mainRefs: r.mainRefs ?? [],
          sklearnVersions: r.sklearnVersions ?? [],
          error: r.error ?? null,
        });
      });
    }
    for (const f of toInspect) f.pickle = pickleByPath.get(f.projectPath!) ?? null;

    // ------------------------------------------------------------------ dependencies
    const pipTexts: (RequirementText & { why: string })[] = [];
    for (const c of nb.cells) {
      if (c.cellType !== 'code' || c.tags.includes('skip-deploy')) continue;
      for (const spec of transformed.get(c.index)!.pip) {
        const text = pep508Text(spec.spec);
        if (text) pipTexts.push({ text, raw: spec.spec, location: { file: chosen, cell: c.index, line: spec.line }, why: `%${spec.manager} in ${cellName(c.index)}` });
      }
    }
    const reading = await readRequirements(helperCall, py, [...pipTexts, ...requirementTexts], {
      version: interpreter.version,
      requests: envContents.python.map((p) => p.value),
    });
    findings.push(...reading.findings);
    const envFiles: EnvFiles = { ...envContents, requirements: reading.requirements.slice(pipTexts.length).filter((r) => r !== null) };
    const declared: DeclaredRequirement[] = [];
    reading.requirements.slice(0, pipTexts.length).forEach((req, i) => {
      if (!req) return;
      const { why, location } = pipTexts[i];
      declared.push({ name: req.name, rawName: req.rawName, specifier: req.specifier, extras: req.extras, marker: req.marker, source: 'pip-magic', why, location });
    });
    for (const r of envFiles.requirements) {
      const source = r.file.endsWith('pyproject.toml') ? 'pyproject' : /environment\.ya?ml$/.test(r.file) ? 'environment' : 'requirements';
      declared.push({
        name: r.name,
        rawName: r.rawName,
        specifier: r.specifier,
        extras: r.extras,
        marker: r.marker,
        source,
        why: r.line ? `${r.file} line ${r.line}` : r.file,
        location: { file: r.file, line: r.line ?? undefined },
      });
    }
    const modelRefs: { module: string; ref: ImportRef }[] = [];
    for (const [p, info] of pickleByPath) {
      for (const m of info.modules) if (m !== '__main__' && !m.startsWith('__main__.')) modelRefs.push({ module: m, ref: { module: m, model: p } });
    }
    const second = await helperCall<ImportsResult>('imports', {
      searchDirs,
      root,
      imports: modelRefs,
      distributions: [...new Set(declared.map((d) => d.rawName))],
    });
    const importEntries = mergeImports(first.imports, second.imports);
    const resolved = resolveDependencies({
      imports: importEntries,
      declared,
      distVersions: second.distVersions,
      notebook: chosen,
      interpreter: py,
    });
    findings.push(...resolved.findings);
    const missing = [...new Set(resolved.findings.filter((f) => f.code === 'import-not-installed').map((f) => f.subject!))];
    // asked while the sample runs; nothing is asked when nothing is missing
    const othersPending = missing.length ? otherInterpretersWith(missing, { root, notebookDir, exclude: [py, interpreter.executable] }) : undefined;
    const localModules = [...new Set(importEntries.filter((e) => e.kind === 'local').flatMap((e) => e.files ?? []))].map(toPosix);

    // ------------------------------------------------------------------ file checks
    findings.push(...fileFindings(refs, resolved.dependencies));
    const refPaths = new Set(refs.map((r) => r.path));
    const literalSeen = new Set<string>();
    for (const l of literals) {
      if (refPaths.has(l.value) || !looksLikeUserPath(l.value)) continue;
      const key = `${l.value}|${l.location.file}|${l.location.cell}`;
      if (literalSeen.has(key)) continue;
      literalSeen.add(key);
      findings.push(absoluteLiteralFinding(l.location, l.value));
    }
    const referenced = new Set(refs.map((r) => r.projectPath).filter(Boolean));
    for (const rel of smallFiles) {
      if (referenced.has(rel)) continue;
      if (await isLfsPointer(path.join(root, rel))) findings.push(lfsFinding(rel, undefined, false));
    }
    const pythonRequests = envFiles.python.map((request, i) => ({ ...request, satisfied: reading.python[i] }));
    findings.push(...pythonVersionFindings(pythonRequests, interpreter.version, py));

    // ------------------------------------------------------------------ sample
    let sample: SampleIO | null = null;
    if (!sampleCell) {
      findings.push({
        code: 'sample-missing',
        severity: 'warning',
        location: { file: chosen },
        message:
          `${chosen} has no cell tagged \`sample-input\`, so Berth cannot check the built container's answers against the notebook. ` +
          'Add a cell with an example request, e.g. `sample_input = [[5.1, 3.5, 1.4, 0.2]]`, and tag it `sample-input`.',
      });
    } else if (!sampleVar) {
      findings.push({
        code: 'sample-failed',
        severity: 'error',
        location: { file: chosen, cell: sampleCell.index },
        message:
          `The sample-input cell (${cellName(sampleCell.index)}) assigns no variable and calls no served function. ` +
          'Write it as `sample_input = ...` with an example request, or as a call of the function to serve, e.g. `predict([[5.1, 3.5, 1.4, 0.2]])`.',
      });
    } else if (entrypoint && opts.evaluateSample !== false) {
      const outcome = await evaluateSample({
        interpreter: py,
        cwd: notebookDir,
        moduleSource: module.source,
        moduleName: `${path.basename(chosen)} (Berth module)`,
        sampleCode: sampleCode(transformed.get(sampleCell.index)!.code, sampleCall),
        sampleVar,
        entrypoint,
      });
      if ('finding' in outcome) {
        findings.push(withCell(outcome.finding, chosen, sampleCell.index, module.cellMap));
      } else {
        const r = outcome.result;
        const stored = sampleCall?.shown && sampleCell.outputText ? { cell: sampleCell.index, text: sampleCell.outputText } : findStoredOutput(nb, plans, entrypoint, sampleVar);
        sample = {
          cell: sampleCell.index,
          variable: sampleVar,
          input: (r.input ?? null) as SampleIO['input'],
          expectedOutput: (r.output ?? null) as SampleIO['expectedOutput'],
          outputText: r.outputText ?? null,
          storedOutputText: stored?.text ?? null,
        };
        if (stored) {
          const candidates = [r.outputText, r.outputRepr].filter((x): x is string => typeof x === 'string').map(normText);
          if (!candidates.includes(normText(stored.text))) {
            findings.push({
              code: 'sample-output-differs',
              severity: 'warning',
              location: { file: chosen, cell: stored.cell },
              message:
                `When the notebook last ran, ${cellName(stored.cell)} showed \`${clip(stored.text)}\` for the sample, but ${entrypoint}(${sampleVar}) now gives \`${clip(r.outputText ?? r.outputRepr ?? '')}\`. ` +
                'The model file or the code may have changed since; run the notebook again from the top and save it, then analyse again.',
            });
          }
        }
      }
    }

    findings.sort((a, b) => severityRank(a) - severityRank(b));
    const otherInterpreters = await othersPending;
    return {
      root,
      name,
      projectFile,
      notebook: chosen,
      notebooks,
      notebookHash,
      interpreter,
      pythonVersion: interpreter.version,
      functions,
      entrypoint,
      module,
      dependencies: resolved.dependencies,
      sample,
      files: { models: refs.filter((r) => r.kind === 'model'), data: refs.filter((r) => r.kind === 'data') },
      envFiles,
      localModules,
      findings,
      otherInterpreters,
      analyzedAt: now().toISOString(),
    };
  }

  async function otherInterpretersWith(imports: string[], where: ListCandidatesInput): Promise<OtherInterpreter[]> {
    const candidates = await listInterpreterCandidates(where, candidateLookup);
    return interpretersWith(imports, candidates, { run, helperDir: helper(), cwd: where.root });
  }

  async function evaluateSample(input: {
    interpreter: string;
    cwd: string;
    moduleSource: string;
    moduleName: string;
    sampleCode: string;
    sampleVar: string;
    entrypoint: string;
  }): Promise<{ result: SampleResult } | { finding: CheckFinding & { moduleLine?: number | null } }> {
    let r: SampleResult;
    try {
      r = (
        await callHelper<SampleResult>(run, helper(), {
          interpreter: input.interpreter,
          command: 'sample',
          cwd: input.cwd,
          timeoutMs: sampleMs,
          input: {
            cwd: input.cwd,
            moduleSource: input.moduleSource,
            moduleName: input.moduleName,
            sampleCode: input.sampleCode,
            sampleVar: input.sampleVar,
            entrypoint: input.entrypoint,
          },
        })
      ).result;
    } catch (err) {
      if (err instanceof HelperTimeout) {
        return {
          finding: {
            code: 'sample-failed',
            severity: 'error',
            message:
              `Running the notebook's served code with the sample did not finish within ${sampleMs / 1000} s. ` +
              'If a cell trains a model, downloads data or waits for input, tag it `training` or `skip-deploy`, then analyse again.',
          },
        };
      }
      if (err instanceof BerthError && err.kind === 'ProjectInvalid') {
        // the user's code ended the process (os._exit, a crash in a native library, ...)
        return {
          finding: {
            code: 'sample-failed',
            severity: 'error',
            message:
              `Running the notebook's served code with the sample ended the program without an answer (${exitText(err.detail)}). ` +
              'Code that calls exit() or crashes Python must not run when the module loads: tag such cells `skip-deploy`, then analyse again.' +
              (stderrOf(err.detail) ? `\n${tail(stderrOf(err.detail)!, 6)}` : ''),
          },
        };
      }
      throw err;
    }
    if (r.ok) return { result: r };
    const tb = r.traceback ? `\n${tail(r.traceback, 6)}` : '';
    const what = r.error ?? 'unknown error';
    const msg: Record<NonNullable<SampleResult['stage']>, string> = {
      module:
        `Loading the served module failed: ${what}. The cells Berth serves must run on their own, without the training cells. ` +
        'Tag cells that only explore or train `skip-deploy` or `training`, or fix the cell, then analyse again.',
      sample:
        `The sample-input cell failed: ${what}. Make it define \`${input.sampleVar}\` from literal values (for example a list of rows), ` +
        'so it runs without the training data.',
      entrypoint: `${input.entrypoint}(${input.sampleVar}) failed: ${what}. Fix the function (it receives the sample after a round trip through JSON, as the served model will), then analyse again.`,
      'serialize-input':
        `The sample cannot be sent as JSON: ${what}. Make \`${input.sampleVar}\` plain lists, dicts, numbers and strings (for a DataFrame: df.to_dict("records")).`,
      'serialize-output': `The answer of ${input.entrypoint} cannot be turned into JSON: ${what}. Return lists, dicts, numbers, strings, or numpy/pandas values.`,
    };
    return {
      finding: {
        code: 'sample-failed',
        severity: 'error',
        message: msg[r.stage ?? 'module'] + tb,
        moduleLine: r.stage === 'module' || r.stage === 'entrypoint' ? (r.moduleLine ?? null) : null,
        subject: r.stage,
      },
    };
  }

  return { analyze };
}

function exitText(detail: unknown): string {
  const d = (detail ?? {}) as { exitCode?: number | null; signal?: string | null };
  return d.signal ? `signal ${d.signal}` : `exit code ${d.exitCode ?? 'unknown'}`;
}

function stderrOf(detail: unknown): string | null {
  const s = (detail as { stderr?: unknown } | undefined)?.stderr;
  return typeof s === 'string' && s.trim() ? s : null;
}

function clip(s: string, n = 120): string {
  const t = s.trim();
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

/** Attaches a location: the cell a module line came from, else the sample cell. */
function withCell(
  f: CheckFinding & { moduleLine?: number | null },
  notebook: string,
  sampleCell: number,
  cellMap: { cell: number; startLine: number; endLine: number }[],
): CheckFinding {
  const { moduleLine, ...finding } = f;
  if (moduleLine) {
    const m = cellMap.find((c) => moduleLine >= c.startLine && moduleLine <= c.endLine);
    if (m) {
      const line = moduleLine - m.startLine + 1;
      return { ...finding, location: { file: notebook, cell: m.cell, line }, message: `Cell ${m.cell + 1} line ${line}: ${finding.message}` };
    }
  }
  return { ...finding, location: { file: notebook, cell: sampleCell } };
}

/** The stored output of the cell that shows entrypoint(sample), e.g. `print(predict(sample_input))`. */
function findStoredOutput(nb: ParsedNotebook, plans: CellPlan[], entrypoint: string, sampleVar: string): { cell: number; text: string } | null {
  const call = new RegExp(`\\b${entrypoint}\\s*\\(\\s*${sampleVar}\\s*\\)`);
  for (const p of plans) {
    if (p.exclude !== 'uses-sample') continue;
    const c = nb.cells[p.cell];
    if (call.test(c.source) && c.outputText) return { cell: p.cell, text: c.outputText };
  }
  return null;
}

function mergeImports(a: ImportEntry[], b: ImportEntry[]): ImportEntry[] {
  const out = new Map<string, ImportEntry>();
  for (const e of [...a, ...b]) {
    const prev = out.get(e.name);
    if (!prev) out.set(e.name, { ...e, modules: [...e.modules], refs: [...e.refs] });
    else {
      for (const m of e.modules) if (!prev.modules.includes(m)) prev.modules.push(m);
      prev.refs.push(...e.refs);
    }
  }
  return [...out.values()];
}
