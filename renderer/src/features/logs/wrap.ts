/**
 * Word wrapping for the live log panel. xterm breaks a line wherever the row ends, mid-word; so lines are broken at
 * spaces before they are written, to the panel's width at the time (a later resize does not re-wrap them).
 */

/** Continuation rows are indented, so each log line's start stays visible. */
const INDENT = '  ';
/** Narrower than this, wrapping at words helps nobody: xterm's own breaks are left alone. */
const MIN_COLUMNS = 20;
/** An ANSI escape sequence (the colours of formatLogLine): written, but takes no column. */
const ESCAPE = /\x1b\[[0-9;?]*[ -/]*[@-~]/y;

interface Unit {
  text: string;
  width: 0 | 1;
}

function unitsOf(line: string): Unit[] {
  const units: Unit[] = [];
  for (let i = 0; i < line.length; ) {
    ESCAPE.lastIndex = i;
    const escape = ESCAPE.exec(line);
    const text = escape ? escape[0] : String.fromCodePoint(line.codePointAt(i)!);
    units.push({ text, width: escape ? 0 : 1 });
    i += text.length;
  }
  return units;
}

const isWordChar = (u: Unit) => u.width === 1 && u.text !== ' ';
const join = (units: Unit[]) => units.map((u) => u.text).join('');

/** One line (no newline in it) as rows of at most `columns` characters, broken at the last space that fits. */
function wrapLine(line: string, columns: number): string[] {
  const indent = unitsOf(INDENT);
  const rows: string[] = [];
  let row: Unit[] = [];
  let width = 0;
  let breakAt = -1; // the row's last space after a word: the row may end there
  const startRow = (carry: Unit[]) => {
    row = [...indent, ...carry];
    width = indent.length + carry.filter((u) => u.width).length;
    breakAt = -1;
  };
  for (const unit of unitsOf(line)) {
    if (unit.width && width >= columns) {
      rows.push(join(row.slice(0, breakAt >= 0 && unit.text !== ' ' ? breakAt : row.length)));
      if (unit.text === ' ') {
        startRow([]);
        continue; // the space the row ends at is not carried over
      }
      startRow(breakAt >= 0 ? row.slice(breakAt + 1) : []);
    }
    if (unit.text === ' ' && row.slice(rows.length ? indent.length : 0).some(isWordChar)) breakAt = row.length;
    row.push(unit);
    width += unit.width;
  }
  rows.push(join(row));
  return rows;
}

/** Text for the terminal with every line wrapped at words to `columns` (null: the width is not known, left as it is). */
export function wrapAtWords(text: string, columns: number | null): string {
  if (columns === null || columns < MIN_COLUMNS) return text;
  return text
    .split(/\r?\n/)
    .map((line) => wrapLine(line, columns).join('\r\n'))
    .join('\r\n');
}

let charWidth: { font: string; width: number } | null = null;

/**
 * The panel's width in characters, from xterm's screen element and the font its rows are drawn in. It is never more
 * than xterm's own column count (xterm rounds the cell width down), so xterm never breaks a wrapped row again.
 */
export function panelColumns(panel: HTMLElement | null): number | null {
  const screen = panel?.querySelector<HTMLElement>('.xterm-screen');
  const rows = panel?.querySelector<HTMLElement>('.xterm-rows');
  if (!screen || !rows) return null;
  const style = getComputedStyle(rows);
  const font = `${style.fontSize} ${style.fontFamily}`;
  if (charWidth?.font !== font) {
    const context = document.createElement('canvas').getContext('2d');
    if (!context) return null;
    context.font = font;
    charWidth = { font, width: context.measureText('W'.repeat(32)).width / 32 };
  }
  return charWidth.width > 0 ? Math.floor(screen.getBoundingClientRect().width / charWidth.width) : null;
}
