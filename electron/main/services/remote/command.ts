/**
 * Remote commands as data: every command Berth sends to a server is built here from words, and every word is
 * quoted by one function, so no caller can forget to quote and tests can pin the exact text. Shell logic that
 * needs more than one command is a constant script run as `sh -c <script> sh <args…>`: values reach it only as
 * positional arguments, never spliced into its text. A command may also carry its berth-shell verb (docs/AGENT.md): the
 * same request in the words a server accepts from a member's key, which such a connection sends instead.
 */

/** A word that is shell syntax, not data (an operator or a redirection); only constants of this module make one. */
class Syntax {
  constructor(readonly text: string) {}
}

type Part = string | number | Syntax;

const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Single-quotes a value for a POSIX shell unless it is made only of characters that never need quoting. */
export function quoteWord(value: string | number): string {
  const text = String(value);
  if (text !== '' && BARE.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A berth-shell request: plain words (no shell syntax reaches berth-shell), and what it reads on stdin if not the caller's. */
export interface Verb {
  readonly words: readonly (string | number)[];
  readonly stdin?: string;
}

const PLAIN_WORD = /^[A-Za-z0-9._:=/,@+%-]+$/;

/** The request line a member's connection sends for a verb. */
export function verbRequest(verb: Verb): string {
  const words = verb.words.map(String);
  const bad = words.find((w) => !PLAIN_WORD.test(w));
  if (bad !== undefined) throw new Error(`A berth-shell verb takes plain words only, not "${bad.slice(0, 80)}"`);
  return ['berth', ...words].join(' ');
}

export class RemoteCommand {
  constructor(
    readonly parts: readonly Part[],
    readonly verb?: Verb,
  ) {}

  /** The same command, sent as this berth-shell verb by a connection that logs in with a member's key. */
  asVerb(words: Array<string | number>, stdin?: string): RemoteCommand {
    return new RemoteCommand(this.parts, { words, ...(stdin === undefined ? {} : { stdin }) });
  }

  /** The command line as the server's shell receives it. */
  toString(): string {
    return this.parts.map((p) => (p instanceof Syntax ? p.text : quoteWord(p))).join(' ');
  }

  /** The same command without its verb: an admin's read of what berth-shell shows only per group (admins have a shell). */
  withoutVerb(): RemoteCommand {
    return new RemoteCommand(this.parts);
  }

  /** The same command with its output discarded (stderr too with `quietErrors`). */
  silenced(quietErrors = false): RemoteCommand {
    return new RemoteCommand([...this.parts, ...(quietErrors ? [NULL_ALL] : [NULL_OUT])], this.verb);
  }

  /** The same command with only its error output discarded. */
  withoutErrorOutput(): RemoteCommand {
    return new RemoteCommand([...this.parts, NULL_ERR], this.verb);
  }

  /** The same command with its error output joined to its standard output (log tails: Docker replays stderr as stderr). */
  withErrorsInOutput(): RemoteCommand {
    return new RemoteCommand([...this.parts, ERR_TO_OUT], this.verb);
  }

  /** The same program run by a wrapper such as `sudo -n` or `timeout 2`. Only one program: an operator would leave the rest unwrapped. */
  under(...wrapper: Array<string | number>): RemoteCommand {
    const isList = this.parts.some((p) => p instanceof Syntax && OPERATORS.has(p.text));
    if (isList) throw new Error(`Cannot run a list of commands under ${wrapper.join(' ')}: ${this}`);
    return new RemoteCommand([...wrapper, ...this.parts], this.verb);
  }
}

const NULL_OUT = new Syntax('>/dev/null');
const NULL_ALL = new Syntax('>/dev/null 2>&1');
const NULL_ERR = new Syntax('2>/dev/null');
const ERR_TO_OUT = new Syntax('2>&1');
const OPERATORS = new Set(['&&', ';', '||', '|']);

/** One program with its arguments, each quoted. */
export const command = (...words: Array<string | number>): RemoteCommand => new RemoteCommand(words);

export const docker = (...words: Array<string | number>): RemoteCommand => command('docker', ...words);

/** A constant script, run by `sh -c`, with its values as positional parameters $1, $2, … */
export const script = (text: string, ...args: Array<string | number>): RemoteCommand => command('sh', '-c', text, 'sh', ...args);

function joined(operator: string, commands: RemoteCommand[]): RemoteCommand {
  const parts: Part[] = [];
  commands.forEach((c, i) => {
    if (i > 0) parts.push(new Syntax(operator));
    parts.push(...c.parts);
  });
  return new RemoteCommand(parts);
}

/** `a && b && …`: stops at the first failure. */
export const all = (...commands: RemoteCommand[]) => joined('&&', commands);
/** `a; b; …`: runs every one; the last one's status counts. */
export const each = (...commands: RemoteCommand[]) => joined(';', commands);
/** `a || b`: b only when a failed. */
export const orElse = (first: RemoteCommand, fallback: RemoteCommand) => joined('||', [first, fallback]);
/** `a | b`. */
export const pipe = (...commands: RemoteCommand[]) => joined('|', commands);
/** Always succeeds (`a || true`), for idempotent clean-up. */
export const tolerant = (c: RemoteCommand) => orElse(c, command('true'));
