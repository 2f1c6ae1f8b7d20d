import type { SourceLocation } from '../../../../shared/project';

/** "model.ipynb · cell 3, line 2": cells are counted from 1, as Jupyter shows them (the analysis counts from 0). */
export function formatLocation(location: SourceLocation | undefined): string {
  if (!location) return '';
  const parts: string[] = [];
  if (location.cell !== undefined) parts.push(`cell ${location.cell + 1}`);
  if (location.line !== undefined) parts.push(`line ${location.line}`);
  return parts.length ? `${location.file} · ${parts.join(', ')}` : location.file;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** JSON on one line when short, indented when not: sample inputs are usually a row or two. */
export function formatJson(value: unknown): string {
  const compact = JSON.stringify(value);
  if (compact === undefined) return 'undefined';
  return compact.length <= 80 ? compact : JSON.stringify(value, null, 2);
}

/** PEP 503 name normalisation, to match a requirement line with a dependency. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/[-_.]+/g, '-');
}
