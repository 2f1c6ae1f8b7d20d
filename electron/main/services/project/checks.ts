/**
 * Pre-build checks: pure functions from what analysis found to findings with stable codes and actionable messages.
 */
import type { CheckFinding, Dependency, ReferencedFile, SourceLocation } from '../../../../shared/project';
import { normalizeName } from './envfiles';
import type { TransformedCell } from './transform';

export const cellName = (cell: number) => `cell ${cell + 1}`;
const CellName = (cell: number) => `Cell ${cell + 1}`;

function where(loc: SourceLocation): string {
  if (loc.cell !== undefined) return `${loc.file} ${cellName(loc.cell)}${loc.line ? ` line ${loc.line}` : ''}`;
  return `${loc.file}${loc.line ? ` line ${loc.line}` : ''}`;
}

/** `!cmd`, cell magics and notable line magics of the cells that go into the module (or were dropped for a magic). */
export function magicFindings(notebook: string, cell: number, t: TransformedCell): CheckFinding[] {
  const out: CheckFinding[] = [];
  if (t.cellMagic) {
    const m = t.cellMagic;
    out.push(
      m.kept
        ? {
            code: 'cell-magic',
            severity: 'info',
            subject: `%%${m.name}`,
            location: { file: notebook, cell, line: 1 },
            message: `${CellName(cell)} starts with \`%%${m.name}\`; Berth removed that line and kept the cell's code in the served module.`,
          }
        : {
            code: 'cell-magic',
            severity: 'warning',
            subject: `%%${m.name}`,
            location: { file: notebook, cell, line: 1 },
            message:
              `${CellName(cell)} is a \`%%${m.name}\` cell, which is not Python, so Berth left it out of the served module. ` +
              (m.name === 'writefile'
                ? 'Make sure the file it writes is saved in the project folder.'
                : 'If serving needs what it does, rewrite it in Python; otherwise tag the cell `skip-deploy` to confirm.'),
          },
    );
  }
  for (const s of t.shell) {
    out.push({
      code: 'shell-command',
      severity: 'warning',
      subject: s.text,
      location: { file: notebook, cell, line: s.line },
      message:
        `${CellName(cell)} line ${s.line} runs the shell command \`${s.text}\`; Berth commented it out in the served module. ` +
        'If the model needs its result (a downloaded or generated file), run it once beforehand and keep the result in the project folder.',
    });
  }
  for (const m of t.lineMagics) {
    if (!m.notice) continue;
    out.push({
      code: 'line-magic',
      severity: m.notice,
      subject: `%${m.name}`,
      location: { file: notebook, cell, line: m.line },
      message:
        `${CellName(cell)} line ${m.line}: \`${m.text}\` is an IPython magic; Berth commented it out in the served module. ` +
        (m.notice === 'warning'
          ? m.name === 'run'
            ? 'Put the code it runs in a .py module in the project and import it instead.'
            : m.name === 'env' || m.name === 'set_env'
              ? 'Set the variable in Python instead (os.environ["NAME"] = "value").'
              : m.name === 'cd'
                ? 'Use paths relative to the notebook instead of changing folder.'
                : 'If serving depends on what it does, do it in plain Python.'
          : 'If serving depends on it, do the same in plain Python.'),
    });
  }
  return out;
}

export function trainingFinding(notebook: string, cell: number, calls: { line: number; call: string }[]): CheckFinding | null {
  if (!calls.length) return null;
  const first = calls[0];
  const more = calls.length > 1 ? ` and ${calls.length - 1} more` : '';
  return {
    code: 'training-at-start',
    severity: 'error',
    subject: first.call,
    location: { file: notebook, cell, line: first.line },
    message:
      `${CellName(cell)} trains when the module loads (\`${first.call}(...)\` on line ${first.line}${more}): the served model would retrain at every start and need the training data. ` +
      'Tag the cell `training` (Jupyter: View → Cell Toolbar → Tags; JupyterLab: the property inspector) so Berth leaves it out, and load the saved model in another cell instead.',
  };
}

export function syntaxFinding(loc: SourceLocation, message: string): CheckFinding {
  return {
    code: 'syntax-error',
    severity: 'error',
    location: loc,
    message: `${where(loc)} is not valid Python (${message}). Fix it in the notebook, or tag the cell \`skip-deploy\` if serving does not need it.`,
  };
}

/** Python version requests of the project's files, each with whether the interpreter meets it (null: unreadable). */
export function pythonVersionFindings(requests: { file: string; value: string; satisfied: boolean | null }[], version: string, interpreter: string): CheckFinding[] {
  const out: CheckFinding[] = [];
  const [maj, min] = version.split('.');
  for (const req of requests) {
    if (req.satisfied !== false) continue;
    const asked = req.file.endsWith('pyproject.toml') ? `requires-python ${req.value}` : `Python ${req.value.replace(/^=+/, '')}`;
    out.push({
      code: 'python-version-mismatch',
      severity: 'warning',
      subject: req.file,
      location: { file: req.file },
      message:
        `${req.file} asks for ${asked}, but the project's interpreter (${interpreter}) is Python ${version}. ` +
        `Berth builds with ${version}, the version the dependency versions were read from. ` +
        `Choose an interpreter that matches ${req.file}, or update ${req.file} to ${maj}.${min}.`,
    });
  }
  return out;
}

export function invalidRequirementFinding(loc: SourceLocation, raw: string, error: string): CheckFinding {
  return {
    code: 'requirement-invalid',
    severity: 'warning',
    subject: raw,
    location: loc,
    message: `${where(loc)}: \`${raw}\` is not a valid requirement (${error}), so Berth leaves it out; pip would refuse it too. Write it as \`name==version\` (PEP 508), then analyse again.`,
  };
}

export function fileFindings(refs: ReferencedFile[], dependencies: Dependency[]): CheckFinding[] {
  const out: CheckFinding[] = [];
  const sklearn = dependencies.find((d) => normalizeName(d.name) === 'scikit-learn' && d.version);
  for (const f of refs) {
    const loc = f.location;
    if (f.projectPath === null && isAbsolutePath(f.path)) {
      out.push({
        code: 'absolute-path',
        severity: 'error',
        subject: f.path,
        location: loc,
        message:
          `${where(loc)} reads \`${f.path}\`, an absolute path on this computer; it does not exist inside the container. ` +
          'Copy the file into the project folder and use a relative path (for example `data/' + f.path.split(/[\\/]/).pop() + '`).',
      });
      continue;
    }
    if (f.projectPath === null) {
      out.push({
        code: 'path-outside-project',
        severity: 'error',
        subject: f.path,
        location: loc,
        message: `${where(loc)} reads \`${f.path}\`, which lies outside the project folder and will not be in the container. Move it into the project folder and update the path.`,
      });
      continue;
    }
    if (!f.exists) {
      out.push({
        code: 'missing-file',
        severity: 'error',
        subject: f.projectPath,
        location: loc,
        message:
          `${where(loc)} reads \`${f.path}\`, but there is no ${f.projectPath} in the project folder. ` +
          (f.kind === 'model'
            ? 'Run the training cell to save the model, or copy the file into the project folder; then analyse again.'
            : 'Add the file to the project folder (or fix the path), then analyse again.'),
      });
      continue;
    }
    if (f.lfsPointer) {
      out.push(lfsFinding(f.projectPath, loc, true));
      continue;
    }
    const p = f.pickle;
    if (!p) continue;
    if (p.error) {
      out.push({
        code: 'pickle-unreadable',
        severity: 'warning',
        subject: f.projectPath,
        location: loc,
        message: `Berth could not inspect ${f.projectPath} (${p.error}), so it cannot check which library versions it needs. Make sure it loads in the notebook.`,
      });
    }
    for (const name of p.mainRefs) {
      out.push({
        code: 'pickle-main-reference',
        severity: 'error',
        subject: f.projectPath,
        location: loc,
        message:
          `${f.projectPath} refers to \`__main__.${name}\`, something defined in the notebook itself. A pickle stores only that name, and in the served model ` +
          `\`__main__\` is a different program, so loading it fails. Move \`${name}\` into a .py file in the project (for example helpers.py), ` +
          'import it from there in the notebook, run the training cell again to save the file, then analyse again.',
      });
    }
    if (sklearn) {
      for (const v of p.sklearnVersions) {
        if (v === sklearn.version) continue;
        out.push({
          code: 'pickle-version-mismatch',
          severity: 'error',
          subject: f.projectPath,
          location: loc,
          message:
            `${f.projectPath} was saved with scikit-learn ${v}, but the project pins scikit-learn ${sklearn.version}. A model pickled by one scikit-learn version ` +
            `can fail to load or predict differently in another. Re-run the training cell with scikit-learn ${sklearn.version} to save it again, ` +
            `or pin the version it was saved with (\`%pip install scikit-learn==${v}\` in the notebook, or scikit-learn==${v} in requirements.txt).`,
        });
      }
    }
  }
  return out;
}

export function lfsFinding(projectPath: string, loc: SourceLocation | undefined, referenced: boolean): CheckFinding {
  return {
    code: 'lfs-pointer',
    severity: referenced ? 'error' : 'warning',
    subject: projectPath,
    location: loc ?? { file: projectPath },
    message:
      `${projectPath} is a Git LFS pointer (a small text file that stands for the real one): its content was never downloaded. ` +
      `Run \`git lfs pull\` in the project folder${referenced ? '' : ' if the model needs it'}, then analyse again.`,
  };
}

export function isAbsolutePath(p: string): boolean {
  return /^(\/|~[\\/]|~$|[A-Za-z]:[\\/]|\\\\)/.test(p);
}

/** Absolute paths written as string literals outside of file-reading calls: likely to break in the container. */
export function absoluteLiteralFinding(loc: SourceLocation, value: string): CheckFinding {
  return {
    code: 'absolute-path',
    severity: 'warning',
    subject: value,
    location: loc,
    message:
      `${where(loc)} mentions \`${value}\`, an absolute path on this computer that will not exist inside the container. ` +
      'If the model uses it, copy what it points to into the project folder and use a relative path.',
  };
}

/** Paths that look like a user's machine rather than e.g. a URL route or `/dev/null`. */
export function looksLikeUserPath(p: string): boolean {
  return /^(\/(Users|home|mnt|Volumes|media|data|root|opt|srv|tmp|var\/folders|workspace|content|kaggle)\/|~[\\/]|[A-Za-z]:[\\/]|\\\\)/.test(p);
}
