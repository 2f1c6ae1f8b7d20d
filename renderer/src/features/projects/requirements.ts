/**
 * The user's choice for an import Berth could not map to a distribution (unresolved) or mapped to several
 * (ambiguous) is written into requirements.txt as an ordinary line with a marker comment, so the file stays the
 * single source of truth and the choice can be found again: `scikit-learn==1.2.1  # for import sklearn (chosen in Berth)`.
 */

const DIST_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const VERSION = /^[0-9][0-9A-Za-z.+!*-]*$/;

export interface Choice {
  distribution: string;
  version: string;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const markerOf = (importName: string) => new RegExp(`#\\s*for import ${escape(importName)} \\(chosen in Berth\\)\\s*$`);

/** Why a choice cannot be written, or null when it can. */
export function choiceProblem(choice: Choice): string | null {
  if (!DIST_NAME.test(choice.distribution.trim())) return 'Type the distribution name as pip knows it, e.g. scikit-learn.';
  if (choice.version.trim() && !VERSION.test(choice.version.trim())) return 'Type a version such as 1.2.1 (or leave it empty).';
  return null;
}

export function choiceLine(importName: string, choice: Choice): string {
  const version = choice.version.trim();
  return `${choice.distribution.trim()}${version ? `==${version}` : ''}  # for import ${importName} (chosen in Berth)`;
}

/** The choice recorded for an import in the requirements text, if any. */
export function findChoice(text: string, importName: string): Choice | null {
  const marker = markerOf(importName);
  for (const line of text.split('\n')) {
    if (!marker.test(line)) continue;
    const requirement = line.replace(/#.*$/, '').trim();
    const match = /^([A-Za-z0-9._-]+)\s*(?:==\s*(\S+))?/.exec(requirement);
    if (match) return { distribution: match[1], version: match[2] ?? '' };
  }
  return null;
}

/** The requirements text with the choice for `importName` replaced or appended; other lines are untouched. */
export function withChoice(text: string, importName: string, choice: Choice): string {
  const marker = markerOf(importName);
  const line = choiceLine(importName, choice);
  const lines = text.split('\n');
  const at = lines.findIndex((l) => marker.test(l));
  if (at >= 0) {
    lines[at] = line;
    return lines.join('\n');
  }
  const body = text.replace(/\n*$/, '');
  return `${body}${body ? '\n' : ''}${line}\n`;
}
