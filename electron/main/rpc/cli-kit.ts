/**
 * What the command-line modules share (electron/main/cli.ts and the services' cli.ts files): calling the contract
 * exactly as the UI does, parsing one command's options, and the usage error that exits 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CallInput, CallName, CallOutput } from '../../../shared/contract';
import { BerthError } from '../../../shared/errors';
import type { Dispatcher } from './dispatcher';

/** A command line the CLI cannot run as written (unknown option, missing or malformed argument): exit 2. */
export class UsageError extends Error {}

export type Call = <N extends CallName>(name: N, input: CallInput<N>) => Promise<CallOutput<N>>;

/** Calls through the dispatcher, so inputs are validated as the UI's are; a failed result is thrown as a BerthError. */
export function contractCaller(dispatcher: Dispatcher): Call {
  return async (name, input) => {
    const result = await dispatcher.call(name, input);
    if (!result.ok) throw BerthError.from(result.error);
    return result.value as CallOutput<typeof name>;
  };
}

/** Where a command writes: stdout (what a pipeline reads) and stderr (notes, warnings). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const consoleIo: CliIo = { out: (text) => console.log(text), err: (text) => console.error(text) };

/** Parses one command's options strictly: an unknown option is a usage error that names it and the command's usage. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nUsage: ${usage}`);
  }
}

/** The positionals a command takes, in order: a missing one or one too many is a usage error. */
export function positionals(given: string[], names: string[], usage: string, optional = 0): string[] {
  const required = names.length - optional;
  if (given.length < required) throw new UsageError(`Missing ${names[given.length]}\nUsage: ${usage}`);
  if (given.length > names.length) throw new UsageError(`Unexpected argument "${given[names.length]}"\nUsage: ${usage}`);
  return given;
}

export function wholeNumber(value: string, what: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${what} must be a whole number, not "${value}"`);
  return n;
}

/** An option given as an ISO date-time, checked here so the message names the option (the contract names its field). */
export function isoTime(value: string, what: string): string {
  if (!ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) throw new UsageError(`${what} must be an ISO date-time such as 2025-01-31T12:00:00Z, not "${value}"`);
  return value;
}
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

export const json = (value: unknown) => JSON.stringify(value, null, 2);
