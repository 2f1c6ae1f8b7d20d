import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../../../shared/errors';
import { resourceCandidates } from '../resources';

export interface RunPythonRequest {
  interpreter: string;
  args: string[];
  cwd: string;
  stdin?: string;
  timeoutMs: number;
  env?: Record<string, string>;
}

export interface RunPythonResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a Python interpreter. Rejects with BerthError NotFound when the interpreter cannot be started. */
export type RunPython = (req: RunPythonRequest) => Promise<RunPythonResult>;

const MAX_OUTPUT = 32 * 1024 * 1024;

/** Environment that keeps Python from writing into the user's project (no __pycache__) and from opening windows. */
export function pythonEnv(extra?: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env.PYTHONSTARTUP;
  delete env.PYTHONHOME;
  return {
    ...env,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
    PYTHONUTF8: '1',
    MPLBACKEND: 'Agg',
    ...extra,
  };
}

/** The real implementation: spawn the interpreter, feed stdin, collect output, kill the process group on timeout. */
export const spawnPython: RunPython = (req) =>
  new Promise((resolve, reject) => {
    const detached = process.platform !== 'win32';
    let child;
    try {
      child = spawn(req.interpreter, req.args, {
        cwd: req.cwd,
        env: pythonEnv(req.env),
        stdio: ['pipe', 'pipe', 'pipe'],
        detached,
        windowsHide: true,
      });
    } catch (err) {
      reject(notStartable(req.interpreter, err));
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let settled = false;
    const kill = () => {
      try {
        if (detached && child.pid) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, req.timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) errOut.push(b);
      errLen += b.length;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(notStartable(req.interpreter, err));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      // a background process the user's code started must not outlive the run
      if (detached && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* group already empty */
        }
      }
      resolve({
        exitCode: code,
        signal: signal ?? null,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errOut).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.on('error', () => {
      /* the process exited before reading all input: reported through close */
    });
    child.stdin.end(req.stdin ?? '');
  });

function notStartable(interpreter: string, err: unknown): BerthError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'it is not executable' : String((err as Error)?.message ?? err);
  return new BerthError(
    'NotFound',
    `The Python interpreter ${interpreter} could not be started (${why}). Choose another interpreter for this project, or create the project's virtual environment (.venv) again.`,
  );
}

/** The folder of berth_project.py: BERTH_PYTHON_HELPERS, else the packaged app's or the repo's (services/resources.ts). */
export function defaultHelperDir(): string {
  const candidates = [process.env.BERTH_PYTHON_HELPERS ?? [], resourceCandidates('python')].flat();
  for (const c of candidates) if (existsSync(path.join(c, HELPER_SCRIPT))) return c;
  throw new BerthError('Internal', `Berth's Python helper (${HELPER_SCRIPT}) is missing from the installation; reinstall Berth.`);
}

export const HELPER_SCRIPT = 'berth_project.py';

export interface HelperCall {
  interpreter: string;
  command: 'probe' | 'code' | 'imports' | 'pickles' | 'requirements' | 'sample';
  input: unknown;
  cwd: string;
  timeoutMs: number;
}

export interface HelperOutcome<T> {
  result: T;
  stderr: string;
}

/**
 * Runs one command of resources/python/berth_project.py under the project's interpreter and parses its JSON.
 * A timeout throws HelperTimeout (a BerthError of kind ProjectInvalid) that the caller may catch.
 */
export async function callHelper<T>(run: RunPython, helperDir: string, call: HelperCall): Promise<HelperOutcome<T>> {
  const res = await run({
    interpreter: call.interpreter,
    args: ['-B', path.join(helperDir, HELPER_SCRIPT), call.command],
    cwd: call.cwd,
    stdin: JSON.stringify(call.input),
    timeoutMs: call.timeoutMs,
  });
  if (res.timedOut) {
    throw new HelperTimeout(call.command, call.timeoutMs);
  }
  const line = res.stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new BerthError(
      'ProjectInvalid',
      `Berth could not analyse the project with ${call.interpreter} (step "${call.command}" exited with ${res.exitCode ?? res.signal}). ` +
        `Check that it is a working Python 3.8+ interpreter, or choose another one. Details: ${tail(res.stderr) || 'no output'}`,
      { exitCode: res.exitCode, signal: res.signal, stderr: tail(res.stderr, 20) },
    );
  }
  if (parsed && typeof parsed === 'object' && 'helperError' in parsed) {
    const p = parsed as { helperError: string; traceback?: string };
    throw new BerthError(
      'Internal',
      `Berth's project helper failed in step "${call.command}" under ${call.interpreter}: ${p.helperError}`,
      { traceback: p.traceback },
    );
  }
  return { result: parsed as T, stderr: res.stderr };
}

export class HelperTimeout extends BerthError {
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super('ProjectInvalid', `The project's Python did not finish step "${command}" within ${Math.round(timeoutMs / 1000)} s.`);
  }
}

export function tail(text: string, lines = 12): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
