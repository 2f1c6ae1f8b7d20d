import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../../fixtures');
/** Debian's Python with python3-numpy, python3-pandas, python3-sklearn and python3-joblib. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

export function requireDebianPython(): { sklearn: string; joblib: string; numpy: string; pandas: string; python: string } {
  try {
    const out = execFileSync(
      DEBIAN_PYTHON,
      ['-c', 'import json, sys, sklearn, joblib, numpy, pandas; print(json.dumps({"sklearn": sklearn.__version__, "joblib": joblib.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__, "python": "%d.%d.%d" % sys.version_info[:3]}))'],
      { encoding: 'utf8' },
    );
    return JSON.parse(out);
  } catch (err) {
    throw new Error(
      `These tests need ${DEBIAN_PYTHON} with scikit-learn, joblib, numpy and pandas: apt-get install -y python3-numpy python3-pandas python3-sklearn python3-joblib (${(err as Error).message})`,
    );
  }
}

/** Every file and folder under dir with a hash of its content: to prove analysis wrote nothing. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const rel = path.relative(dir, full);
      const st = statSync(full);
      if (st.isDirectory()) {
        out[rel + '/'] = 'dir';
        walk(full);
      } else {
        out[rel] = createHash('sha256').update(readFileSync(full)).digest('hex') + ':' + st.mtimeMs;
      }
    }
  };
  walk(dir);
  return out;
}

/** A scratch copy of a fixture (for tests that add a .venv or change files). */
export function copyFixture(name: string): string {
  const dest = mkdtempSync(path.join(os.tmpdir(), `berth-${name}-`));
  cpSync(path.join(FIXTURES, name), dest, { recursive: true });
  return dest;
}

export function makeVenv(dir: string, systemSitePackages: boolean): string {
  const args = ['-m', 'venv', '--without-pip'];
  if (systemSitePackages) args.push('--system-site-packages');
  execFileSync(DEBIAN_PYTHON, [...args, path.join(dir, '.venv')]);
  const py = path.join(dir, '.venv', 'bin', 'python');
  if (!existsSync(py)) throw new Error('venv creation failed');
  return py;
}

export function notebookJson(cells: { source: string; tags?: string[] }[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: cells.map((c) => ({ cell_type: 'code', metadata: { tags: c.tags ?? [] }, source: c.source, outputs: [], execution_count: null })),
  });
}
