import type { CheckFinding, Dependency, DependencySource, SourceLocation } from '../../../../shared/project';
import { exactVersion, normalizeName } from './envfiles';

/** Where an import was seen. */
export type ImportRef =
  | { module: string; cell: number; line: number }
  | { module: string; file: string; line: number }
  | { module: string; model: string };

/** One top-level import name, classified by the helper under the project's interpreter. */
export interface ImportEntry {
  name: string;
  kind: 'stdlib' | 'local' | 'installed' | 'ambiguous' | 'unresolved';
  modules: string[];
  refs: ImportRef[];
  files?: string[];
  distributions?: { name: string; version: string | null }[];
  /** For unresolved: importable, but no distribution metadata (e.g. copied into site-packages by hand). */
  importable?: boolean;
}

/** A requirement the user wrote down: a `%pip install` line or an environment file entry. */
export interface DeclaredRequirement {
  name: string;
  rawName: string;
  specifier: string;
  extras: string[];
  marker: string | null;
  source: Extract<DependencySource, 'pip-magic' | 'requirements' | 'pyproject' | 'environment'>;
  why: string;
  location?: SourceLocation;
}

/** Well-known import names whose distribution is named differently. Used to match declarations and to suggest fixes, never to guess a dependency. */
export const IMPORT_HINTS: Record<string, string> = {
  sklearn: 'scikit-learn',
  cv2: 'opencv-python',
  PIL: 'Pillow',
  yaml: 'PyYAML',
  bs4: 'beautifulsoup4',
  skimage: 'scikit-image',
  dateutil: 'python-dateutil',
  dotenv: 'python-dotenv',
  Crypto: 'pycryptodome',
  attr: 'attrs',
  jwt: 'PyJWT',
  magic: 'python-magic',
  docx: 'python-docx',
  Levenshtein: 'python-Levenshtein',
  sentencepiece: 'sentencepiece',
  fitz: 'PyMuPDF',
};

const SOURCE_RANK: Record<DependencySource, number> = {
  'pip-magic': 0,
  requirements: 1,
  pyproject: 2,
  environment: 3,
  import: 4,
  'model-file': 5,
};

export function refText(ref: ImportRef, notebook: string): string {
  if ('cell' in ref) return `import ${ref.module} (${notebook} cell ${ref.cell + 1})`;
  if ('file' in ref) return `import ${ref.module} (${ref.file} line ${ref.line})`;
  return `needed to load ${ref.model}`;
}

export function refLocation(ref: ImportRef, notebook: string): SourceLocation | undefined {
  if ('cell' in ref) return { file: notebook, cell: ref.cell, line: ref.line };
  if ('file' in ref) return { file: ref.file, line: ref.line };
  return { file: ref.model };
}

function refWhere(ref: ImportRef, notebook: string): string {
  if ('cell' in ref) return `in ${notebook} cell ${ref.cell + 1}`;
  if ('file' in ref) return `in ${ref.file} line ${ref.line}`;
  return `by the pickled file ${ref.model}`;
}

interface Work {
  key: string;
  name: string;
  installed: string | null;
  imports: string[];
  candidates: string[];
  why: string[];
  declared: DeclaredRequirement[];
  fromImport: boolean;
  fromModelOnly: boolean;
}

export interface ResolveInput {
  imports: ImportEntry[];
  declared: DeclaredRequirement[];
  /** Installed versions of declared distributions (by the name as written), from the interpreter. */
  distVersions: Record<string, string | null>;
  notebook: string;
  interpreter: string;
}

/**
 * Merges imports (mapped to installed distributions by the project's interpreter) with declared requirements.
 * Version precedence: `%pip install x==v` > `==v` in an environment file > the installed version > a declared range.
 * Imports without an installed distribution are never guessed: they become `unresolved` (or `ambiguous`) with an error finding,
 * unless a declaration covers them.
 */
export function resolveDependencies(input: ResolveInput): { dependencies: Dependency[]; findings: CheckFinding[] } {
  const { notebook, interpreter } = input;
  const findings: CheckFinding[] = [];
  const work = new Map<string, Work>();
  const get = (name: string): Work => {
    const key = normalizeName(name);
    let w = work.get(key);
    if (!w) {
      w = { key, name, installed: null, imports: [], candidates: [], why: [], declared: [], fromImport: false, fromModelOnly: true };
      work.set(key, w);
    }
    return w;
  };
  const declaredKeys = new Set(input.declared.map((d) => d.name));
  const coveredBy = (importName: string): string | null => {
    for (const k of [normalizeName(importName), IMPORT_HINTS[importName] ? normalizeName(IMPORT_HINTS[importName]) : null]) {
      if (k && declaredKeys.has(k)) return k;
    }
    return null;
  };

  for (const d of input.declared) {
    const w = get(d.rawName);
    w.declared.push(d);
    const v = input.distVersions[d.rawName] ?? input.distVersions[d.name];
    if (v && !w.installed) w.installed = v;
  }

  const addImport = (w: Work, entry: ImportEntry) => {
    if (!w.imports.includes(entry.name)) w.imports.push(entry.name);
    for (const ref of entry.refs) {
      const t = refText(ref, notebook);
      if (!w.why.includes(t)) w.why.push(t);
      if (!('model' in ref)) w.fromModelOnly = false;
    }
    w.fromImport = true;
  };

  for (const entry of input.imports) {
    if (entry.kind === 'stdlib' || entry.kind === 'local') continue;
    const first = entry.refs[0];
    const location = first ? refLocation(first, notebook) : undefined;
    const where = first ? refWhere(first, notebook) : '';
    const dists = entry.distributions ?? [];
    if (entry.kind === 'installed' && dists.length) {
      const w = get(dists[0].name);
      w.name = dists[0].name;
      w.installed = dists[0].version;
      addImport(w, entry);
      continue;
    }
    if (entry.kind === 'ambiguous') {
      const chosen = dists.find((d) => declaredKeys.has(normalizeName(d.name)));
      if (chosen) {
        const w = get(chosen.name);
        w.name = chosen.name;
        w.installed = chosen.version;
        addImport(w, entry);
        continue;
      }
      const w = get(`import:${entry.name}`);
      w.name = entry.name;
      w.candidates = dists.map((d) => d.name);
      addImport(w, entry);
      const example = dists[0] ? `${dists[0].name}==${dists[0].version ?? 'VERSION'}` : 'the-package==VERSION';
      findings.push({
        code: 'import-ambiguous',
        severity: 'error',
        subject: entry.name,
        location,
        message:
          `\`${entry.name}\` (imported ${where}) is provided by several installed packages: ${dists.map((d) => d.name).join(', ')}. ` +
          `Berth will not guess which one the model needs: add the right one to requirements.txt with its version (for example \`${example}\`).`,
      });
      continue;
    }
    // unresolved
    const cover = coveredBy(entry.name);
    if (cover) {
      const w = work.get(cover)!;
      addImport(w, entry);
      const decl = w.declared[0];
      findings.push({
        code: 'import-not-installed',
        severity: 'warning',
        subject: entry.name,
        location,
        message:
          `\`${entry.name}\` (imported ${where}) is not installed in ${interpreter}. ${decl.why} asks for \`${decl.rawName}${decl.specifier}\`, ` +
          `which the build will install, but Berth cannot check the version or run the sample with it. Install it into that interpreter to test locally.`,
      });
      continue;
    }
    const w = get(`import:${entry.name}`);
    w.name = entry.name;
    addImport(w, entry);
    const hint = IMPORT_HINTS[entry.name] ?? entry.name;
    findings.push({
      code: 'import-not-installed',
      severity: 'error',
      subject: entry.name,
      location,
      message: entry.importable
        ? `\`${entry.name}\` (imported ${where}) can be imported by ${interpreter} but no installed package declares it, so Berth cannot tell which package and version to install. ` +
          `Add the package that provides it to requirements.txt with a version (e.g. \`${hint}==VERSION\`).`
        : `\`${entry.name}\` (imported ${where}) is not installed in ${interpreter}, so Berth cannot tell which package and version the model needs. ` +
          `Install it there (\`${interpreter} -m pip install ${hint}\`), choose the interpreter the notebook runs with, or add it with a version to requirements.txt; then analyse again.`,
    });
  }

  const deps: Dependency[] = [];
  for (const w of work.values()) {
    if (w.key.startsWith('import:')) {
      // placeholder for an unresolved / ambiguous import
      deps.push({
        name: w.name,
        version: null,
        specifier: '',
        requirement: null,
        status: w.candidates.length ? 'ambiguous' : 'unresolved',
        source: 'import',
        imports: w.imports,
        candidates: w.candidates,
        why: w.why,
      });
      continue;
    }
    const declared = [...w.declared].sort((a, b) => SOURCE_RANK[a.source] - SOURCE_RANK[b.source]);
    const exact = declared.map((d) => ({ d, v: exactVersion(d.specifier) })).find((x) => x.v);
    const why = [...declared.map((d) => d.why), ...w.why];
    const extras = [...new Set(declared.flatMap((d) => d.extras))];
    const marker = declared.find((d) => d.marker)?.marker ?? null;
    const source: DependencySource = declared[0]?.source ?? (w.fromModelOnly ? 'model-file' : 'import');
    let version: string | null;
    let specifier: string;
    let status: Dependency['status'];
    if (exact) {
      version = exact.v;
      specifier = `==${exact.v}`;
      status = 'pinned';
    } else if (w.installed) {
      version = w.installed;
      specifier = `==${w.installed}`;
      status = 'pinned';
    } else {
      version = null;
      specifier = declared.find((d) => d.specifier)?.specifier ?? '';
      status = 'unpinned';
      const d = declared[0];
      findings.push({
        code: 'requirement-not-pinned',
        severity: 'warning',
        subject: w.name,
        location: d?.location,
        message:
          `\`${d ? d.rawName + d.specifier : w.name}\` (${d?.why ?? 'declared'}) has no exact version and is not installed in ${interpreter}, ` +
          `so each build may get a different version than you tested. Install it there and analyse again, or pin it (\`${w.name}==VERSION\`).`,
      });
    }
    const name = declared.length && !w.fromImport ? declared[0].rawName : w.name;
    deps.push({
      name,
      version,
      specifier,
      requirement: `${name}${extras.length ? `[${extras.join(',')}]` : ''}${specifier}${marker ? ` ; ${marker}` : ''}`,
      status,
      source,
      imports: w.imports,
      candidates: [],
      why,
    });
  }
  deps.sort((a, b) => normalizeName(a.name).localeCompare(normalizeName(b.name)));
  return { dependencies: deps, findings };
}
