import type { CheckFinding, ProjectAnalysis } from '../../../../shared/project';

const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** Import names a requirements text answers for: `pkg==1.0  # for import x`, or a line naming the import itself. */
export function importsCoveredBy(requirements: string): Set<string> {
  const covered = new Set<string>();
  for (const line of requirements.split('\n')) {
    const marked = /#\s*for import ([A-Za-z_][\w.]*)/.exec(line);
    if (marked) covered.add(normalize(marked[1]));
    const name = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*[=<>!~]=/.exec(line);
    if (name) covered.add(normalize(name[1]));
  }
  return covered;
}

/**
 * The user's requirements edit answers Berth's questions about imports it could not resolve: those findings stop
 * blocking the build (they stay, as warnings, since the local interpreter still cannot run the import).
 */
export function applyRequirementChoices(analysis: ProjectAnalysis, requirements: string | null): ProjectAnalysis {
  if (!requirements) return analysis;
  const covered = importsCoveredBy(requirements);
  const findings = analysis.findings.map((f): CheckFinding => {
    const isImportQuestion = f.code === 'import-not-installed' || f.code === 'import-ambiguous';
    if (!isImportQuestion || f.severity !== 'error' || !f.subject || !covered.has(normalize(f.subject))) return f;
    return { ...f, severity: 'warning', message: `${f.message} Answered by your requirements.txt edit.` };
  });
  return { ...analysis, findings };
}
