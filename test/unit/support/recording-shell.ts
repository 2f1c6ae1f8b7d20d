import { spawn, spawnSync } from 'node:child_process';
import { BerthError } from '../../../shared/errors';
import type { RemoteCommand } from '../../../electron/main/services/remote/command';
import type { ExecOptions, ExecResult, SshConnection, SshTarget } from '../../../electron/main/services/transport/ssh';

export interface Answer {
  stdout?: string;
  stderr?: string;
  code?: number;
}

/** A substring of the command text, a pattern, or a test of the whole text. */
export type Matcher = string | RegExp | ((command: string) => boolean);

/** A computed answer, e.g. from running the command for real with runLocally. */
export type Responder = (command: string, stdin: string | undefined) => Answer | Promise<Answer>;

/** Answers the commands it matches; a list is answered in turn, its last answer repeating. */
export type Rule = [Matcher, Answer | Answer[] | Responder];

export interface Recorded {
  command: string;
  stdin?: string;
  timeoutMs?: number;
}

const matches = (matcher: Matcher, command: string) =>
  typeof matcher === 'string' ? command.includes(matcher) : matcher instanceof RegExp ? matcher.test(command) : matcher(command);

/**
 * A fake server shell with the exec/run surface of SshConnection: records each command's text and stdin and
 * answers from the first rule that matches; anything else succeeds with no output.
 */
export class RecordingShell {
  readonly recorded: Recorded[] = [];
  /** The berth-shell verb of each command (null: it has none), which a member's connection would send instead. */
  readonly verbs: Array<string[] | null> = [];
  readonly target: SshTarget;
  /** A member's login (see SshConnection.member); the fake records both forms whatever it is. */
  member: SshConnection['member'] = null;
  private readonly answered = new Map<Rule, number>();

  constructor(
    private readonly rules: Rule[] = [],
    target: Partial<SshTarget> = {},
  ) {
    this.target = { host: 'server-1', port: 22, username: 'root', ...target };
  }

  /** The text of every command so far, in order. */
  get commands(): string[] {
    return this.recorded.map((r) => r.command);
  }

  /** This fake where the code under test wants a real connection. */
  get connection(): SshConnection {
    return this as unknown as SshConnection;
  }

  async exec(remote: string | RemoteCommand, options: ExecOptions = {}): Promise<ExecResult> {
    const command = String(remote);
    const stdin = options.stdin === undefined ? undefined : String(options.stdin);
    this.recorded.push({ command, ...(stdin === undefined ? {} : { stdin }), timeoutMs: options.timeoutMs });
    this.verbs.push(typeof remote === 'string' || !remote.verb ? null : remote.verb.words.map(String));
    const answer = await this.answer(command, stdin);
    return { stdout: Buffer.from(answer.stdout ?? ''), stderr: answer.stderr ?? '', code: answer.code ?? 0 };
  }

  async run(remote: string | RemoteCommand, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(remote, options);
    if (result.code !== 0) {
      throw new BerthError('RemoteCommandFailed', `"${remote}" failed on ${this.target.host} (exit ${result.code}): ${result.stderr.trim()}`, {
        code: result.code,
        stderr: result.stderr,
      });
    }
    return result.stdout.toString();
  }

  private answer(command: string, stdin: string | undefined): Answer | Promise<Answer> {
    const rule = this.rules.find(([matcher]) => matches(matcher, command));
    if (!rule) return {};
    if (typeof rule[1] === 'function') return rule[1](command, stdin);
    const answers = Array.isArray(rule[1]) ? rule[1] : [rule[1]];
    const turn = this.answered.get(rule) ?? 0;
    this.answered.set(rule, turn + 1);
    return answers[Math.min(turn, answers.length - 1)];
  }
}

/**
 * Runs a command line in a local sh with the named programs replaced by stubs that only print their arguments,
 * and returns the words of each stub call: a hostile value must arrive as one word, and nothing else may run.
 */
export function invocations(commandLine: string | RemoteCommand, programs: string[]): string[][] {
  const stubs = programs.map((p) => `${p}() { printf '%s\\037' ${p} "$@"; printf '\\036'; }`).join('\n');
  const ran = spawnSync('sh', ['-c', `${stubs}\n${commandLine}`], { encoding: 'utf8' });
  if (ran.status !== 0) throw new Error(`sh failed (${ran.status}) on ${commandLine}: ${ran.stderr}`);
  return ran.stdout
    .split('\x1e')
    .slice(0, -1)
    .map((call) => call.split('\x1f').slice(0, -1));
}

/**
 * Runs a command line in a local sh, for tests of what a script does rather than only of its text. A script that
 * exits before reading its stdin (a refused compare-and-swap) is no error here.
 */
export function runLocally(commandLine: string, stdin = '', env: NodeJS.ProcessEnv = process.env): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', commandLine], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? -1 }));
    child.stdin.end(stdin);
  });
}
