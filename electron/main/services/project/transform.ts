/**
 * Turns the IPython-flavoured source of a notebook cell into plain Python, line for line
 * (the transformed code has exactly as many lines as the cell, so line numbers stay valid).
 */

export interface PipSpec {
  /** The requirement as written (`scikit-learn==1.2.1`), conda `=` already turned into `==`. */
  spec: string;
  /** Line in the cell (1-based). */
  line: number;
  manager: 'pip' | 'conda';
}

export interface MagicLine {
  line: number;
  text: string;
  /** Magic name without `%`, e.g. `matplotlib`. */
  name: string;
  /** `warning` for magics whose effect the served model loses (`%run`, `%cd`, `%env`, ...); `info` for unknown ones; null for harmless ones. */
  notice: 'warning' | 'info' | null;
}

export interface TransformedCell {
  /** Plain Python; '' when the whole cell is dropped (a cell magic such as %%bash). */
  code: string;
  cellMagic: { name: string; line: string; kept: boolean } | null;
  pip: PipSpec[];
  /** `!cmd` lines that are not package installs. */
  shell: { line: number; text: string }[];
  lineMagics: MagicLine[];
  /** `obj?` help lines. */
  help: number[];
}

/** Cell magics whose body is ordinary Python that should run: the magic line goes, the body stays. */
export const KEEP_BODY_CELL_MAGICS = new Set(['time', 'timeit', 'capture', 'prun']);

/** Line magics that only affect the interactive session. */
const HARMLESS_LINE_MAGICS = new Set([
  'matplotlib',
  'load_ext',
  'reload_ext',
  'unload_ext',
  'autoreload',
  'aimport',
  'config',
  'precision',
  'who',
  'whos',
  'who_ls',
  'history',
  'pwd',
  'ls',
  'lsmagic',
  'magic',
  'page',
  'pinfo',
  'pinfo2',
  'pdef',
  'pdoc',
  'psource',
  'pfile',
  'xmode',
  'debug',
  'pdb',
  'tb',
  'reset',
  'reset_selective',
  'clear',
  'colors',
  'autocall',
  'automagic',
  'doctest_mode',
  'notebook',
  'qtconsole',
  'connect_info',
  'save',
  'logstart',
  'logstop',
  'logon',
  'logoff',
  'logstate',
  'recall',
  'rerun',
  'dhist',
  'dirs',
  'pip',
  'conda',
  'mamba',
  'micromamba',
  'time',
  'timeit',
  'prun',
  'lprun',
  'memit',
  'mprun',
  'watermark',
  'tensorboard',
]);

/** Line magics whose effect a served model would silently lose. */
const NOTABLE_LINE_MAGICS = new Set(['run', 'cd', 'env', 'set_env', 'load', 'store', 'sx', 'system', 'sc', 'bookmark', 'pylab', 'alias', 'macro', 'writefile', 'bash', 'sh']);

interface ScanState {
  depth: number;
  triple: string | null;
  continued: boolean;
}

/** Advances a light Python tokenizer over one physical line (strings, comments, brackets, backslash continuation). */
function scanLine(line: string, st: ScanState): void {
  let i = 0;
  st.continued = false;
  while (i < line.length) {
    if (st.triple) {
      const end = line.indexOf(st.triple, i);
      if (end < 0) {
        return;
      }
      // an escaped closing quote does not close
      let bs = 0;
      for (let k = end - 1; k >= 0 && line[k] === '\\'; k--) bs++;
      if (bs % 2 === 1) {
        i = end + 1;
        continue;
      }
      i = end + 3;
      st.triple = null;
      continue;
    }
    const c = line[i];
    if (c === '#') return;
    if (c === '"' || c === "'") {
      if (line.startsWith(c.repeat(3), i)) {
        st.triple = c.repeat(3);
        i += 3;
        continue;
      }
      i++;
      while (i < line.length && line[i] !== c) i += line[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') st.depth++;
    else if (c === ')' || c === ']' || c === '}') st.depth = Math.max(0, st.depth - 1);
    else if (c === '\\' && i === line.length - 1) st.continued = true;
    i++;
  }
}

/** Splits a shell-ish argument string, honouring quotes. */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

const PIP_OPTIONS_WITH_VALUE = new Set([
  '-r', '--requirement', '-c', '--constraint', '-i', '--index-url', '--extra-index-url', '-f', '--find-links',
  '--trusted-host', '-t', '--target', '--prefix', '--root', '--platform', '--python-version', '--implementation',
  '--abi', '--src', '--progress-bar', '-e', '--editable', '--cache-dir', '--log', '--upgrade-strategy', '--proxy',
  '--timeout', '--retries', '--only-binary', '--no-binary', '--report', '--config-settings', '-C',
]);
const CONDA_OPTIONS_WITH_VALUE = new Set(['-c', '--channel', '-n', '--name', '-p', '--prefix', '--file', '--override-channels']);

/** If `cmd` (text after `%` or `!`) installs packages, the requirement specs it names; else null. */
export function parseInstall(cmd: string): { specs: string[]; manager: 'pip' | 'conda' } | null {
  const text = cmd.trim();
  const pip =
    /^(?:pip[\d.]*|uv\s+pip|(?:\{[^}]*\}|\$\{?\w+\}?|\S*python[\d.]*(?:\.exe)?)\s+-m\s+pip)\s+install\b(.*)$/i.exec(text);
  const conda = /^(?:conda|mamba|micromamba)\s+install\b(.*)$/i.exec(text);
  const m = pip ?? conda;
  if (!m) return null;
  const manager = pip ? 'pip' : 'conda';
  const withValue = manager === 'pip' ? PIP_OPTIONS_WITH_VALUE : CONDA_OPTIONS_WITH_VALUE;
  const tokens = shellSplit(m[1].replace(/\s+#.*$/, ''));
  const specs: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.startsWith('-')) {
      if (withValue.has(t)) i++;
      continue;
    }
    if (/[{}$]/.test(t) || t === '&&' || t === ';' || t === '|') {
      if (t === '&&' || t === ';' || t === '|') break;
      continue;
    }
    if (manager === 'conda') {
      // conda: name=1.2 or name=1.2=build, channel::name
      const c = /^(?:[\w.-]+::)?([A-Za-z0-9][\w.-]*)(?:=([^=\s]+)(?:=\S+)?)?$/.exec(t);
      if (c) {
        specs.push(c[2] ? `${c[1]}==${c[2]}` : c[1]);
        continue;
      }
    }
    specs.push(t);
  }
  return { specs, manager };
}

function stripTimeOptions(rest: string): string {
  return rest.replace(/^(\s*-[nr]\s*\d+|\s*-[oqp]\b)+/, '').trim();
}

export function transformCell(source: string): TransformedCell {
  const lines = source.split(/\r?\n/);
  const result: TransformedCell = { code: '', cellMagic: null, pip: [], shell: [], lineMagics: [], help: [] };
  const firstIdx = lines.findIndex((l) => l.trim() !== '');
  if (firstIdx >= 0 && lines[firstIdx].trimStart().startsWith('%%')) {
    const magicLine = lines[firstIdx].trim();
    const name = /^%%(\S+)/.exec(magicLine)?.[1] ?? '';
    const kept = KEEP_BODY_CELL_MAGICS.has(name);
    result.cellMagic = { name, line: magicLine, kept };
    if (!kept) return result;
    lines[firstIdx] = `# ${magicLine}  (cell magic removed by Berth; the cell's code is kept)`;
  }

  const st: ScanState = { depth: 0, triple: null, continued: false };
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const atStart = st.depth === 0 && !st.triple && !st.continued;
    const stripped = line.trimStart();
    const indent = line.slice(0, line.length - stripped.length);
    const replace = (comment: string, keep?: string) => {
      if (keep !== undefined && keep.trim()) out.push(indent + keep);
      else out.push(indent ? `${indent}pass  # ${comment}` : `# ${comment}`);
    };
    if (atStart && (i !== firstIdx || !result.cellMagic)) {
      const assign = /^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=\s*([!%])(?![=])(.*)$/.exec(stripped);
      if (stripped.startsWith('!') || assign?.[2] === '!') {
        const cmd = assign ? assign[3] : stripped.replace(/^!+/, '');
        const install = parseInstall(cmd);
        if (install) for (const spec of install.specs) result.pip.push({ spec, line: i + 1, manager: install.manager });
        else result.shell.push({ line: i + 1, text: stripped });
        replace(stripped);
        continue;
      }
      if ((stripped.startsWith('%') && !stripped.startsWith('%%')) || assign?.[2] === '%') {
        const body = assign ? assign[3] : stripped.slice(1);
        const name = /^(\S+)/.exec(body)?.[1] ?? '';
        const rest = body.slice(name.length);
        if (name === 'time' || name === 'timeit') {
          result.lineMagics.push({ line: i + 1, text: stripped, name, notice: null });
          const stmt = stripTimeOptions(rest);
          replace(stripped, assign ? (name === 'time' && stmt ? `${assign[1]} = ${stmt}` : undefined) : stmt);
          continue;
        }
        const install = parseInstall(body);
        if (install) for (const spec of install.specs) result.pip.push({ spec, line: i + 1, manager: install.manager });
        const notice = install || HARMLESS_LINE_MAGICS.has(name) ? null : NOTABLE_LINE_MAGICS.has(name) ? 'warning' : 'info';
        result.lineMagics.push({ line: i + 1, text: stripped, name, notice });
        replace(stripped);
        continue;
      }
      if (/^(\?\??[\w.]+|[\w.]+\?\??)\s*$/.test(stripped)) {
        result.help.push(i + 1);
        replace(stripped);
        continue;
      }
    }
    out.push(line);
    scanLine(line, st);
  }
  result.code = out.join('\n');
  return result;
}
