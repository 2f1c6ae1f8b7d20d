/**
 * Requirements and Python version requests are read by `packaging` (what pip itself uses), through the project
 * helper under the project's interpreter: PEP 508 and PEP 440 are not reimplemented here.
 */
import { BerthError } from '../../../../shared/errors';
import type { CheckFinding, RequirementEntry, SourceLocation } from '../../../../shared/project';
import { invalidRequirementFinding } from './checks';

/** One requirement as written (a requirements line, a pyproject or environment.yml entry, a `%pip` argument). */
export interface RequirementText {
  /** The PEP 508 text the helper reads. */
  text: string;
  /** As written. */
  raw: string;
  location: SourceLocation;
}

export interface PythonRequests {
  /** The interpreter's version. */
  version: string;
  /** As the project's files write them: `3.9`, `>=3.8,<3.12`, conda's `3.8|3.9`, poetry's `^3.9` or `3.11 || 3.12`. */
  requests: string[];
}

export interface RequirementsReading {
  /** Each text's requirement, in order; null where packaging refused it (a finding says why). */
  requirements: (RequirementEntry | null)[];
  /** For each Python version request, in order: met, not met, or null when it cannot be read (a pyenv virtualenv name). */
  python: (boolean | null)[];
  findings: CheckFinding[];
}

type ReadByHelper = { name: string; rawName: string; specifier: string; extras: string[]; marker: string | null } | { error: string };
type HelperAnswer = { packagingMissing: true } | { requirements: ReadByHelper[]; python: (boolean | null)[] };

/** Runs one helper command under the project's interpreter. */
export type AskHelper = <T>(command: 'requirements', input: unknown) => Promise<T>;

export async function readRequirements(ask: AskHelper, interpreter: string, texts: RequirementText[], python: PythonRequests): Promise<RequirementsReading> {
  if (!texts.length && !python.requests.length) return { requirements: [], python: [], findings: [] };
  const answer = await ask<HelperAnswer>('requirements', { requirements: texts.map((t) => t.text), pythonVersion: python.version, pythonRequests: python.requests });
  if ('packagingMissing' in answer) throw packagingMissing(interpreter);
  const findings: CheckFinding[] = [];
  const requirements = answer.requirements.map((read, i): RequirementEntry | null => {
    const { raw, location } = texts[i];
    if ('error' in read) {
      findings.push(invalidRequirementFinding(location, raw, read.error));
      return null;
    }
    return { ...read, raw, file: location.file, line: location.line ?? null };
  });
  return { requirements, python: answer.python, findings };
}

/** Every interpreter that runs a notebook has packaging (Jupyter's kernel needs it) or pip; one with neither can't be read. */
function packagingMissing(interpreter: string): BerthError {
  return new BerthError(
    'ProjectInvalid',
    `${interpreter} has neither the packaging library nor pip, which Berth uses to read the project's requirements and Python version. ` +
      `Install packaging there (\`uv pip install --python ${interpreter} packaging\`, or \`conda install packaging\` in its environment; ` +
      "for Debian's Python, `apt install python3-packaging`), or choose the interpreter the notebook runs with; then analyse again.",
  );
}
