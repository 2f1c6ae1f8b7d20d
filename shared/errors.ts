/**
 * Errors that cross the main/renderer boundary keep their kind and message.
 * Services throw BerthError with one of these kinds; anything else becomes `Internal`.
 */
export const errorKinds = [
  'ValidationError',
  'NotFound',
  'Conflict',
  'DockerUnavailable',
  'BuildFailed',
  'SmokeTestFailed',
  'ProjectInvalid',
  /** berth.toml is not valid (the detail lists each problem with its line). */
  'ProjectFileInvalid',
  'SshAuthError',
  'SshUnreachable',
  'HostKeyUnknown',
  'HostKeyMismatch',
  'RemoteCommandFailed',
  'Unauthorized',
  'Cancelled',
  'Internal',
] as const;

export type ErrorKind = (typeof errorKinds)[number];

export interface SerializedError {
  kind: ErrorKind;
  message: string;
  /** Optional structured detail (e.g. a fingerprint to accept, a container log tail). */
  detail?: unknown;
}

export class BerthError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = kind;
  }

  toJSON(): SerializedError {
    return { kind: this.kind, message: this.message, ...(this.detail === undefined ? {} : { detail: this.detail }) };
  }

  static from(err: unknown): BerthError {
    if (err instanceof BerthError) return err;
    if (isSerializedError(err)) return new BerthError(err.kind, err.message, err.detail);
    const message = err instanceof Error ? err.message : String(err);
    return new BerthError('Internal', message);
  }
}

export function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SerializedError).message === 'string' &&
    (errorKinds as readonly string[]).includes((value as SerializedError).kind)
  );
}
