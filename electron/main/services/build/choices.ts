import type { CheckFinding, ProjectAnalysis } from '../../../../shared/project';
import { IMPORT_HINTS } from '../project/dependencies';

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

/** `No module named 'joblib'` → joblib. */
const missingModule = (message: string) => /No module named '([A-Za-z_]\w*)/.exec(message)?.[1] ?? null;

/**
 * A reviewed requirements text (the user's edit, or the project's .berth/requirements.txt) answers Berth's questions
 * about imports this machine's Python cannot resolve: those findings stop blocking the build. So does served code
 * that fails to load only for want of a package the text pins: a CI runner need not have the notebook's packages,
 * and the smoke test runs that code in the image. They stay, as warnings, since this machine still cannot run them.
 */
export function applyRequirementChoices(analysis: ProjectAnalysis, requirements: string | null, answeredBy = 'your requirements.txt edit'): ProjectAnalysis {
  if (!requirements) return analysis;
  const covered = importsCoveredBy(requirements);
  const pins = (name: string | null | undefined) => !!name && (covered.has(normalize(name)) || (name in IMPORT_HINTS && covered.has(normalize(IMPORT_HINTS[name]))));
  const findings = analysis.findings.map((f): CheckFinding => {
    if (f.severity !== 'error') return f;
    const isImportQuestion = f.code === 'import-not-installed' || f.code === 'import-ambiguous';
    if (isImportQuestion && pins(f.subject)) return { ...f, severity: 'warning', message: `${f.message} Answered by ${answeredBy}.` };
    const missing = f.code === 'sample-failed' && f.subject === 'module' ? missingModule(f.message) : null;
    if (missing && pins(missing)) {
      return { ...f, severity: 'warning', message: `${f.message}\nThis machine's Python lacks ${missing}, which ${answeredBy} pins: the smoke test runs the served code in the image instead.` };
    }
    return f;
  });
  return { ...analysis, findings };
}
