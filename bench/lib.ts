import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

/** One line of the benchmark table: what was measured, against what, and whether the goal is met. */
export interface Row {
  id: string;
  what: string;
  measured: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** true/false when the row has a goal; null for context rows. */
  met: boolean | null;
  note?: string;
  /** Raw numbers for the JSON file. */
  data?: Record<string, unknown>;
}

export function machine() {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
    node: process.version,
    docker: tryRun('docker', ['version', '--format', '{{.Server.Version}}']),
    wrk: tryRun('wrk', ['-v']).split('\n')[0],
    nginx: tryRun('nginx', ['-v']),
    load: tryRun('cat', ['/proc/loadavg']),
  };
}

/** A tool's version line, wherever it prints it (nginx -v writes to stderr). */
function tryRun(cmd: string, args: string[]): string {
  const result = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() || 'unavailable';
}

export const ms = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 0)} ms`);
export const bytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
export const ratio = (a: number, b: number) => (b === 0 ? '∞' : `${(a / b).toFixed(a / b >= 100 ? 0 : 1)}×`);
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Runs a command, bounded in time; resolves with stdout (rejects with stderr on failure). */
export function run(cmd: string, args: string[], options: { input?: Buffer | string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ').slice(0, 200)} failed (${code ?? signal}): ${err}`));
    });
    child.stdin.end(options.input ?? '');
  });
}

export function printTable(rows: Row[]): string {
  const header = ['id', 'what', 'measured', 'baseline', 'ratio', 'goal', 'met'];
  const cells = rows.map((r) => [r.id, r.what, r.measured, r.baseline, r.ratio, r.goal, r.met === null ? '' : r.met ? 'yes' : 'NO']);
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...cells.map((c) => `| ${c.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`)];
  return lines.join('\n');
}

/** Bounds one benchmark section: a section that fails or overruns becomes a "not measured" row with the reason. */
export async function section(name: string, maxMs: number, rows: Row[], body: () => Promise<void>): Promise<void> {
  const started = Date.now();
  console.log(`\n=== [bench] ${name}`);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      body(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish within ${Math.round(maxMs / 1000)} s`)), maxMs);
      }),
    ]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.log(`=== [bench] ${name} FAILED: ${message}`);
    rows.push({ id: name, what: `${name}: not measured`, measured: '—', baseline: '—', ratio: '—', goal: '—', met: null, note: message.slice(0, 500) });
  } finally {
    clearTimeout(timer);
    console.log(`=== [bench] ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
