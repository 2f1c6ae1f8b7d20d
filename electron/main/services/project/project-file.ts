/**
 * Reads and writes a project's berth.toml. Every problem is reported with its line, so a pipeline's log points at
 * the line to fix; nothing here touches a server.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { BerthError } from '../../../../shared/errors';
import { PROJECT_FILE, ProjectFile, type ProjectFileInput, type ProjectFileIssue } from '../../../../shared/project-file';

/** `group.servers[1].host_key` for the path ['group', 'servers', 1, 'host_key']. */
export function fieldName(fieldPath: readonly PropertyKey[]): string {
  return fieldPath.reduce<string>((name, part) => (typeof part === 'number' ? `${name}[${part}]` : name ? `${name}.${String(part)}` : String(part)), '');
}

/**
 * The line where each table and key first appears, by field name. smol-toml gives values without positions, so
 * the lines come from the headers and `key =` lines; a field inside an inline table falls back to its table's line.
 */
export function fieldLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  const remember = (field: string, line: number) => lines.has(field) || lines.set(field, line);
  const bare = (name: string) => name.replace(/["'\s]/g, '');
  let table = '';
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const number = index + 1;
    const arrayHeader = /^\[\[([^\]]+)\]\]/.exec(line);
    const tableHeader = /^\[([^\]]+)\]/.exec(line);
    const key = /^([A-Za-z0-9_."' -]+?)\s*=/.exec(line);
    if (arrayHeader) {
      const name = bare(arrayHeader[1]);
      const position = (arrayCounts.get(name) ?? -1) + 1;
      arrayCounts.set(name, position);
      table = `${name}[${position}]`;
      remember(name, number);
      remember(table, number);
    } else if (tableHeader) {
      table = bare(tableHeader[1]);
      remember(table, number);
    } else if (key) {
      remember(table ? `${table}.${bare(key[1])}` : bare(key[1]), number);
    }
  });
  return lines;
}

function lineOf(lines: Map<string, number>, fieldPath: readonly PropertyKey[]): number | null {
  for (let length = fieldPath.length; length > 0; length--) {
    const line = lines.get(fieldName(fieldPath.slice(0, length)));
    if (line) return line;
  }
  return null;
}

function issuesOf(error: z.ZodError, text: string): ProjectFileIssue[] {
  const lines = fieldLines(text);
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const fieldPath = [...issue.path, key];
        return { line: lineOf(lines, fieldPath), field: fieldName(fieldPath), message: `unknown field "${key}"` };
      });
    }
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    return [{ line: lineOf(lines, issue.path), field: fieldName(issue.path) || '(top level)', message: missing ? 'is missing' : issue.message }];
  });
}

function invalid(file: string, issues: ProjectFileIssue[]): BerthError {
  const where = (i: ProjectFileIssue) => (i.line ? `${file}:${i.line}` : file);
  const list = issues.map((i) => `  ${where(i)}: ${i.field}: ${i.message}`).join('\n');
  return new BerthError('ProjectFileInvalid', `${file} is not valid; nothing was changed on any server:\n${list}`, { file, issues });
}

/** Parses berth.toml text; `file` names it in messages. */
export function parseProjectFile(text: string, file = PROJECT_FILE): ProjectFile {
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const message = err.message.split('\n')[0].replace(/^Invalid TOML document:\s*/i, '');
    throw invalid(file, [{ line: err.line, field: '(syntax)', message: `${message} (column ${err.column})` }]);
  }
  const result = ProjectFile.safeParse(data);
  if (!result.success) throw invalid(file, issuesOf(result.error, text));
  return result.data;
}

/** The folder a project path stands for (a single notebook: its folder). */
export function projectRoot(projectPath: string): string {
  const absolute = path.resolve(projectPath);
  return absolute.toLowerCase().endsWith('.ipynb') ? path.dirname(absolute) : absolute;
}

/** The project's berth.toml, or null when it has none. */
export async function readProjectFile(projectPath: string): Promise<ProjectFile | null> {
  const file = path.join(projectRoot(projectPath), PROJECT_FILE);
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
    throw new BerthError('ProjectFileInvalid', `Berth cannot read ${file}: ${err.message}`);
  });
  return text === null ? null : parseProjectFile(text, file);
}

const HEADER = `# Berth deployment of this project: commit it with the notebook and .berth/ (the reviewed Dockerfile and
# requirements), so every Berth, a CI runner's included, deploys the same thing. \`berth deploy\` reads it.
`;

/** berth.toml text for a deployment (checked first, so Berth never writes a file it would refuse). */
export function renderProjectFile(input: ProjectFileInput): string {
  const checked = ProjectFile.parse(input);
  return `${HEADER}\n${stringify(checked)}\n`;
}
