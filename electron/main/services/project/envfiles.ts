import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { BerthError } from '../../../../shared/errors';
import type { EnvFiles } from '../../../../shared/project';
import { toPosix } from './discover';
import type { RequirementText } from './requirements';

/** PEP 503 normalised distribution name. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * The PEP 508 text of a pip argument or requirements-file line; null for options and comments, and for a URL or path
 * that does not name its project with `#egg=` (pip's convention, which PEP 508 lacks).
 */
export function pep508Text(raw: string): string | null {
  const text = raw.trim();
  if (!text || text.startsWith('-') || text.startsWith('#')) return null;
  if (!/^(git\+|hg\+|svn\+|bzr\+|https?:|file:|\.{0,2}\/)/.test(text)) return text;
  return /[#&]egg=([A-Za-z0-9._-]+)/.exec(text)?.[1] ?? null;
}

/** The exact version of an `==X` specifier as packaging writes it (not `==X.*`), else null. */
export function exactVersion(specifier: string): string | null {
  const m = /^===?([^,*;\s]+)$/.exec(specifier.trim());
  return m ? m[1] : null;
}

async function readText(full: string): Promise<string | null> {
  try {
    return await fs.readFile(full, 'utf8');
  } catch {
    return null;
  }
}

/** requirements.txt with `-r other.txt` includes (inside the project only), comments and options removed. */
export async function parseRequirementsFile(root: string, rel: string, seen = new Set<string>()): Promise<RequirementText[]> {
  if (seen.has(rel)) return [];
  seen.add(rel);
  const text = await readText(path.join(root, rel));
  if (text === null) return [];
  const out: RequirementText[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    // continuation lines
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i];
    line = line.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const inc = /^(?:-r|--requirement)\s*=?\s*(\S+)/.exec(line);
    if (inc) {
      const target = toPosix(path.normalize(path.join(path.dirname(rel), inc[1])));
      if (!target.startsWith('..')) out.push(...(await parseRequirementsFile(root, target, seen)));
      continue;
    }
    const req = requirementText(line.replace(/\s--hash=\S+/g, ''), rel, i + 1);
    if (req) out.push(req);
  }
  return out;
}

export interface EnvFileNames {
  requirements: string[];
  pyproject: string | null;
  environment: string | null;
  runtime: string | null;
  pythonVersion: string | null;
  apt: string | null;
}

/** Environment files in the given folders (relative to root; the first folder wins for single files). */
export async function findEnvFiles(root: string, dirs: string[]): Promise<EnvFileNames> {
  const names: EnvFileNames = { requirements: [], pyproject: null, environment: null, runtime: null, pythonVersion: null, apt: null };
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = (await fs.readdir(path.join(root, dir), { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch {
      continue;
    }
    entries.sort();
    const rel = (n: string) => toPosix(path.join(dir, n));
    for (const n of entries) {
      if (/^requirements.*\.txt$/i.test(n)) names.requirements.push(rel(n));
    }
    const pick = (cands: string[]) => cands.find((c) => entries.includes(c));
    const pyproject = pick(['pyproject.toml']);
    const env = pick(['environment.yml', 'environment.yaml']);
    const runtime = pick(['runtime.txt']);
    const pv = pick(['.python-version']);
    const apt = pick(['apt.txt']);
    names.pyproject ??= pyproject ? rel(pyproject) : null;
    names.environment ??= env ? rel(env) : null;
    names.runtime ??= runtime ? rel(runtime) : null;
    names.pythonVersion ??= pv ? rel(pv) : null;
    names.apt ??= apt ? rel(apt) : null;
  }
  // dev/test requirement files are not needed to serve the model
  names.requirements = [...new Set(names.requirements)].filter((f) => !/requirements[-_.]?(dev|test|tests|docs|lint)\.txt$/i.test(f));
  return names;
}

function invalidFile(file: string, err: unknown): BerthError {
  const e = err as { message?: string; line?: number; column?: number; linePos?: { line: number; col: number }[] };
  const first = String(e.message ?? err).split('\n')[0].replace(/[.:]\s*$/, '');
  const line = e.line ?? e.linePos?.[0]?.line;
  const column = e.column ?? e.linePos?.[0]?.col;
  const at = line ? ` at line ${line}${column ? `, column ${column}` : ''}` : '';
  return new BerthError(
    'ProjectInvalid',
    `${file} could not be read: ${first}${at && !first.includes(`line ${line}`) ? at : ''}. Fix the file or remove it from the project folder, then analyse again.`,
    { file, line, column },
  );
}

/** What the environment files say; their requirements are still text, for the helper to read with `packaging`. */
export type EnvFileContents = Omit<EnvFiles, 'requirements'> & { requirementTexts: RequirementText[] };

function requirementText(raw: string, file: string, line: number | null): RequirementText | null {
  const text = pep508Text(raw);
  return text === null ? null : { text, raw: raw.trim(), location: line ? { file, line } : { file } };
}

/** Reads all environment files. Throws BerthError ProjectInvalid for unparseable TOML/YAML. */
export async function readEnvFiles(root: string, names: EnvFileNames): Promise<EnvFileContents> {
  const env: EnvFileContents = { found: [], requirementTexts: [], python: [], aptPackages: [], conda: null };
  for (const f of names.requirements) {
    env.found.push(f);
    env.requirementTexts.push(...(await parseRequirementsFile(root, f)));
  }

  if (names.pyproject) {
    env.found.push(names.pyproject);
    const text = (await readText(path.join(root, names.pyproject))) ?? '';
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw invalidFile(names.pyproject, err);
    }
    const project = (doc.project ?? {}) as Record<string, unknown>;
    if (Array.isArray(project.dependencies)) {
      for (const d of project.dependencies) {
        if (typeof d !== 'string') continue;
        const req = requirementText(d, names.pyproject, null);
        if (req) env.requirementTexts.push(req);
      }
    }
    if (typeof project['requires-python'] === 'string') env.python.push({ file: names.pyproject, value: project['requires-python'] });
    const poetry = ((doc.tool as Record<string, unknown> | undefined)?.poetry as Record<string, unknown> | undefined)?.dependencies as
      | Record<string, unknown>
      | undefined;
    if (poetry && typeof poetry === 'object') {
      for (const [name, spec] of Object.entries(poetry)) {
        const version = typeof spec === 'string' ? spec : typeof (spec as { version?: unknown })?.version === 'string' ? (spec as { version: string }).version : '';
        if (name.toLowerCase() === 'python') {
          if (version) env.python.push({ file: names.pyproject, value: version });
          continue;
        }
        // poetry's ^/~ ranges are not pip syntax: keep exact pins only
        const exact = /^\d[\w.+!-]*$/.test(version) ? `==${version}` : version.startsWith('==') ? version : '';
        env.requirementTexts.push({ text: `${name}${exact}`, raw: `${name} ${version}`.trim(), location: { file: names.pyproject } });
      }
    }
  }

  if (names.environment) {
    env.found.push(names.environment);
    const text = (await readText(path.join(root, names.environment))) ?? '';
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw invalidFile(names.environment, err);
    }
    const d = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
    const conda: string[] = [];
    for (const dep of Array.isArray(d.dependencies) ? d.dependencies : []) {
      if (typeof dep === 'string') {
        const spec = dep.replace(/^[\w.-]+::/, '').trim();
        const pm = /^python(?![\w-])\s*(.*)$/i.exec(spec);
        if (pm) {
          if (pm[1]) env.python.push({ file: names.environment, value: pm[1].trim() });
          continue;
        }
        conda.push(spec);
      } else if (dep && typeof dep === 'object' && Array.isArray((dep as { pip?: unknown }).pip)) {
        for (const p of (dep as { pip: unknown[] }).pip) {
          if (typeof p !== 'string') continue;
          const req = requirementText(p, names.environment, null);
          if (req) env.requirementTexts.push(req);
        }
      }
    }
    env.conda = { file: names.environment, name: typeof d.name === 'string' ? d.name : null, dependencies: conda };
  }

  if (names.runtime) {
    env.found.push(names.runtime);
    const text = ((await readText(path.join(root, names.runtime))) ?? '').trim();
    const m = /^python-?(\S+)/i.exec(text);
    if (m) env.python.push({ file: names.runtime, value: m[1] });
  }

  if (names.pythonVersion) {
    env.found.push(names.pythonVersion);
    const text = (await readText(path.join(root, names.pythonVersion))) ?? '';
    const first = text
      .split(/\r?\n/)
      .map((l) => l.replace(/#.*$/, '').trim())
      .find(Boolean);
    if (first) env.python.push({ file: names.pythonVersion, value: first });
  }

  if (names.apt) {
    env.found.push(names.apt);
    const text = (await readText(path.join(root, names.apt))) ?? '';
    env.aptPackages = text
      .split(/\r?\n/)
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean);
  }
  return env;
}
