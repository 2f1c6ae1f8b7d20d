import { BerthError } from '../../../../shared/errors';

export type CellType = 'code' | 'markdown' | 'raw';

export interface NotebookCell {
  index: number;
  cellType: CellType;
  source: string;
  tags: string[];
  executionCount: number | null;
  /** Text the cell printed or returned when the notebook last ran (stdout streams + text/plain results). */
  outputText: string | null;
}

export interface ParsedNotebook {
  path: string;
  nbformat: number;
  cells: NotebookCell[];
  kernelspec: { name: string; displayName: string | null; language: string | null } | null;
  languageInfo: { name: string; version: string | null } | null;
}

/** Line and column (1-based) of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/** Where JSON.parse gave up, from its message (V8 says "at position N" and newer versions "(line L column C)"). */
export function jsonErrorPosition(text: string, message: string): { offset: number; line: number; column: number } {
  const lc = /line (\d+) column (\d+)/.exec(message);
  const pos = /position (\d+)/.exec(message);
  if (pos) {
    const offset = Number(pos[1]);
    return { offset, ...lineColumn(text, offset) };
  }
  if (lc) {
    const line = Number(lc[1]);
    const column = Number(lc[2]);
    const offset = text.split('\n').slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + column - 1;
    return { offset, line, column };
  }
  // some V8 messages carry no position ("Unexpected token '}', ... is not valid JSON"): find it ourselves
  const offset = jsonErrorOffset(text);
  return { offset, ...lineColumn(text, offset) };
}

/** Offset of the first JSON syntax error (a small recursive-descent checker; text.length when the text ends too early). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  class Fail {
    constructor(readonly at: number) {}
  }
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw new Fail(i);
  };
  const lit = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const str = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) (i += k), fail();
          i += 5;
          continue;
        }
        if (!'"\\/bfnrt'.includes(text[i] ?? 'x') || i >= text.length) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const num = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail();
      }
    } else if (c === '"') str();
    else if (c === 't') lit('true');
    else if (c === 'f') lit('false');
    else if (c === 'n') lit('null');
    else if (c === '-' || (c >= '0' && c <= '9')) num();
    else fail();
  };
  try {
    value();
    ws();
    return i < text.length ? i : text.length;
  } catch (e) {
    if (e instanceof Fail) return Math.min(e.at, text.length);
    throw e;
  }
}

function joinSource(src: unknown): string {
  if (typeof src === 'string') return src;
  if (Array.isArray(src)) return src.map((s) => (typeof s === 'string' ? s : '')).join('');
  return '';
}

function outputText(outputs: unknown): string | null {
  if (!Array.isArray(outputs)) return null;
  const parts: string[] = [];
  for (const o of outputs) {
    if (!o || typeof o !== 'object') continue;
    const out = o as Record<string, unknown>;
    if (out.output_type === 'stream' && out.name === 'stdout') parts.push(joinSource(out.text));
    if (out.output_type === 'execute_result' || out.output_type === 'display_data') {
      const data = out.data as Record<string, unknown> | undefined;
      if (data && data['text/plain'] !== undefined) parts.push(joinSource(data['text/plain']));
    }
  }
  return parts.length ? parts.join('') : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Parses an nbformat v4 notebook. Throws BerthError ProjectInvalid with the position of a JSON error,
 * or with what is missing when the JSON is not a v4 notebook.
 */
export function parseNotebook(text: string, relPath: string): ParsedNotebook {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    const msg = (err as Error).message;
    const where = jsonErrorPosition(body, msg);
    throw new BerthError(
      'ProjectInvalid',
      `${relPath} is not valid JSON (line ${where.line}, column ${where.column}: ${msg}). ` +
        'The file may be damaged or half-saved: open it in Jupyter and save it again, or restore it from version control.',
      { code: 'invalid-notebook', file: relPath, ...where },
    );
  }
  const invalid = (what: string) =>
    new BerthError('ProjectInvalid', `${relPath} is not a Jupyter notebook Berth can read: ${what}`, {
      code: 'invalid-notebook',
      file: relPath,
    });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('the file is JSON but not a notebook object.');
  const nb = raw as Record<string, unknown>;
  const nbformat = typeof nb.nbformat === 'number' ? nb.nbformat : NaN;
  if (nbformat !== 4) {
    throw invalid(
      Number.isNaN(nbformat)
        ? 'it has no "nbformat" field. Save it from Jupyter (File → Save) to write a complete notebook.'
        : `it uses nbformat ${nbformat}; Berth reads nbformat 4. Open it in Jupyter and save it to upgrade it.`,
    );
  }
  if (!Array.isArray(nb.cells)) throw invalid('it has no "cells" list. Save it from Jupyter to repair it.');
  const cells: NotebookCell[] = nb.cells.map((c, index) => {
    const cell = (c && typeof c === 'object' ? c : {}) as Record<string, unknown>;
    const type = cell.cell_type === 'code' || cell.cell_type === 'markdown' ? cell.cell_type : 'raw';
    const md = (cell.metadata && typeof cell.metadata === 'object' ? cell.metadata : {}) as Record<string, unknown>;
    const tags = Array.isArray(md.tags) ? md.tags.filter((t): t is string => typeof t === 'string') : [];
    return {
      index,
      cellType: type,
      source: joinSource(cell.source),
      tags,
      executionCount: typeof cell.execution_count === 'number' ? cell.execution_count : null,
      outputText: type === 'code' ? outputText(cell.outputs) : null,
    };
  });
  const meta = (nb.metadata && typeof nb.metadata === 'object' ? nb.metadata : {}) as Record<string, unknown>;
  const ks = meta.kernelspec as Record<string, unknown> | undefined;
  const li = meta.language_info as Record<string, unknown> | undefined;
  return {
    path: relPath,
    nbformat,
    cells,
    kernelspec: ks && str(ks.name) ? { name: str(ks.name)!, displayName: str(ks.display_name), language: str(ks.language) } : null,
    languageInfo: li && str(li.name) ? { name: str(li.name)!, version: str(li.version) } : null,
  };
}
