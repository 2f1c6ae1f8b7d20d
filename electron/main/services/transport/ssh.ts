import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { BerthError } from '../../../../shared/errors';
import { MemberIdentity } from '../../../../shared/identity';
import { RemoteCommand, verbRequest } from '../remote/command';
import { fingerprintOf, keyTypeOf } from './host-key';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** A private key (PEM/OpenSSH text); or use `agent`. */
  privateKey?: string | Buffer;
  passphrase?: string;
  /** Path of an ssh-agent socket (usually $SSH_AUTH_SOCK). */
  agent?: string;
}

export interface ConnectOptions {
  /** The pinned host key fingerprint; without one the connection is refused with HostKeyUnknown and the key to review. */
  expectedFingerprint?: string;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  stdin?: Buffer | string | NodeJS.ReadableStream;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PresentedHostKey {
  host: string;
  port: number;
  keyType: string;
  fingerprint: string;
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN']);

/** Single-quotes a value for a POSIX shell command line. */
export const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** What a connection needs of what carries its commands: ssh2's Client, or this computer's shell (transport/local.ts). */
export interface CommandCarrier {
  exec(command: string, callback: (err: Error | undefined, channel: ClientChannel) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  end(): unknown;
}

/** The host key type of this computer's shell (transport/local.ts), which has no key. */
export const LOCAL_KEY_TYPE = 'local';

/** berth-shell's exit status for a refusal (docs/AGENT.md). */
const REFUSED = 126;

/**
 * A connection to a server: an authenticated SSH connection whose server proved the pinned host key, or this
 * computer's own shell (transport/local.ts). A login with a member's key
 * (`member` set) reaches only berth-shell: every command goes as its verb, and one without a verb only to an admin
 * (berth-shell gives admins a shell); the server checks the rights either way.
 */
export class SshConnection {
  private closed = false;
  /** When the connection last carried a command successfully (for the pool's idle check). */
  lastActiveAt = Date.now();
  /** Who this login is on the server when it is a member's key (berth-shell); null for a root or sudo login. */
  member: MemberIdentity | null = null;

  constructor(
    readonly target: SshTarget,
    readonly hostKey: PresentedHostKey,
    private readonly client: CommandCarrier,
  ) {
    client.on('close', () => (this.closed = true));
  }

  /** This computer's own shell (transport/local.ts), not an SSH login. */
  get isLocal(): boolean {
    return this.hostKey.keyType === LOCAL_KEY_TYPE;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onClose(listener: () => void): void {
    this.client.on('close', listener);
  }

  /** Runs a command and collects its output; a non-zero exit is returned, not thrown. */
  exec(remote: string | RemoteCommand, options: ExecOptions = {}): Promise<ExecResult> {
    let command: string;
    try {
      ({ command, options } = this.request(remote, options));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      let openChannel: ClientChannel | undefined;
      const fail = (error: BerthError) => {
        if (settled) return;
        settled = true;
        openChannel?.close();
        reject(error);
      };
      // The timeout covers opening the channel too: on a silently cut link that open never answers.
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => fail(new BerthError('RemoteCommandFailed', `"${command}" on ${this.target.host} took longer than ${options.timeoutMs} ms`)), options.timeoutMs);
      this.client.exec(command, (err, channel) => {
        if (settled) return void channel?.close();
        if (err) {
          clearTimeout(timer);
          return fail(this.asError(err));
        }
        openChannel = channel;
        this.lastActiveAt = Date.now();
        const stdout: Buffer[] = [];
        let stderr = '';
        let code = -1;
        const abort = () => channel.close();
        options.signal?.addEventListener('abort', abort, { once: true });
        channel.on('data', (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        channel.on('exit', (exitCode: number | null) => (code = exitCode ?? -1));
        channel.on('close', () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', abort);
          if (settled) return;
          if (options.signal?.aborted) return fail(new BerthError('Cancelled', `"${command}" on ${this.target.host} was cancelled`));
          settled = true;
          resolve({ stdout: Buffer.concat(stdout), stderr, code });
        });
        writeStdin(channel, options.stdin);
      });
    });
  }

  /** Like exec, but a non-zero exit becomes a RemoteCommandFailed carrying stderr; returns stdout as text. */
  async run(remote: string | RemoteCommand, options: ExecOptions = {}): Promise<string> {
    const command = this.request(remote, options).command;
    const result = await this.exec(remote, options);
    const refusal = this.refusal(result);
    if (refusal) throw refusal;
    if (result.code !== 0) {
      throw new BerthError(
        'RemoteCommandFailed',
        `"${command}" failed on ${this.target.host} (exit ${result.code}): ${result.stderr.trim() || result.stdout.toString().trim()}`,
        { code: result.code, stderr: result.stderr },
      );
    }
    return result.stdout.toString();
  }

  /** A raw channel for streaming (logs, image transfer); the caller owns it. */
  stream(remote: string | RemoteCommand): Promise<ClientChannel> {
    let command: string;
    try {
      command = this.request(remote, {}).command;
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) return reject(this.asError(err));
        this.lastActiveAt = Date.now();
        resolve(channel);
      });
    });
  }

  /** berth-shell's refusal of a member's request, as the error that names the role needed; null for any other result. */
  refusal(result: ExecResult): BerthError | null {
    if (!this.member || result.code !== REFUSED) return null;
    const why = (result.stderr.trim() || result.stdout.toString().trim()).replace(/^berth: /, '');
    return new BerthError('Unauthorized', `${this.target.host} refused ${this.member.name}: ${why}`, { code: result.code });
  }

  /** What goes over the wire: the command itself, or for a member's key its berth-shell verb (and that verb's stdin). */
  private request(remote: string | RemoteCommand, options: ExecOptions): { command: string; options: ExecOptions } {
    if (!this.member) return { command: String(remote), options };
    const verb = remote instanceof RemoteCommand ? remote.verb : undefined;
    if (verb) return { command: verbRequest(verb), options: verb.stdin === undefined ? options : { ...options, stdin: verb.stdin } };
    if (this.member.role === 'admin') return { command: String(remote), options };
    throw new BerthError(
      'Unauthorized',
      `${this.target.host}: this step has no berth-shell verb, so only an admin may run it (${this.member.name} has role ${this.member.role}): ${String(remote).slice(0, 120)}`,
    );
  }

  /**
   * Asks the login who it is: berth-shell answers `berth whoami` with the member as JSON (an admin's request
   * without the word `berth` would go to their shell); a plain shell has no such command.
   */
  async identify(): Promise<void> {
    const result = await this.exec('berth whoami', { timeoutMs: 15_000 });
    const text = result.stdout.toString().trim();
    if (result.code === REFUSED) {
      this.close();
      throw new BerthError('Unauthorized', `${this.target.host} refused this key: ${result.stderr.trim().replace(/^berth: /, '')}`);
    }
    if (result.code !== 0 || !text.startsWith('{')) return;
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      return;
    }
    const parsed = MemberIdentity.safeParse(answer);
    if (!parsed.success) throw new BerthError('RemoteCommandFailed', `${this.target.host} answered whoami with something that is not a member: ${text.slice(0, 200)}`);
    this.member = parsed.data;
  }

  close(): void {
    this.closed = true;
    this.client.end();
  }

  /** A channel that cannot be opened means the connection is gone: close it so the pool reconnects next time. */
  private asError(err: Error): BerthError {
    this.close();
    return new BerthError('SshUnreachable', `SSH channel to ${this.target.host} failed: ${err.message}`);
  }
}

function writeStdin(channel: ClientChannel, stdin: ExecOptions['stdin']): void {
  if (stdin === undefined) channel.end();
  else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) channel.end(stdin);
  else stdin.pipe(channel);
}

/**
 * Connects and authenticates, verifying the server's host key against the pinned fingerprint before any credential
 * is sent. Every failure is a BerthError saying what to do: accept the key, fix the key/user, or check the host.
 */
export function connectSsh(target: SshTarget, options: ConnectOptions = {}): Promise<SshConnection> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: PresentedHostKey | undefined;
    let hostKeyError: BerthError | undefined;

    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey: target.privateKey,
      passphrase: target.passphrase,
      agent: target.agent,
      readyTimeout: options.readyTimeoutMs ?? 8000,
      keepaliveInterval: options.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        presented = { host: target.host, port: target.port, keyType: keyTypeOf(key), fingerprint: fingerprintOf(key) };
        hostKeyError = checkHostKey(presented, options.expectedFingerprint);
        return hostKeyError === undefined;
      },
    };

    client.once('ready', () => {
      const connection = new SshConnection(target, presented!, client);
      connection.identify().then(() => resolve(connection), (err) => {
        connection.close();
        reject(err);
      });
    });
    client.once('error', (err: Error & { level?: string; code?: string }) => {
      client.end();
      reject(hostKeyError ?? classify(err, target));
    });
    try {
      client.connect(config);
    } catch (err) {
      reject(new BerthError('SshAuthError', `Cannot use the private key for ${target.username}@${target.host}: ${(err as Error).message}`));
    }
  });
}

function checkHostKey(presented: PresentedHostKey, expected: string | undefined): BerthError | undefined {
  const where = `${presented.host}:${presented.port}`;
  if (expected === undefined) {
    return new BerthError(
      'HostKeyUnknown',
      `${where} is not a known host. Its ${presented.keyType} key fingerprint is ${presented.fingerprint}: compare it with the server's (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and accept it if it matches.`,
      presented,
    );
  }
  if (expected !== presented.fingerprint) {
    return new BerthError(
      'HostKeyMismatch',
      `The host key of ${where} does not match the one Berth pinned (expected ${expected}, got ${presented.fingerprint}). The connection was refused: someone may be intercepting it. If the server was reinstalled, remove it from Berth and add it again.`,
      { ...presented, expected },
    );
  }
  return undefined;
}

function classify(err: Error & { level?: string; code?: string }, target: SshTarget): BerthError {
  const who = `${target.username}@${target.host}:${target.port}`;
  if (err.level === 'client-authentication') {
    return new BerthError(
      'SshAuthError',
      `${who} refused the key: check the user name and that the public key is in ~/.ssh/authorized_keys on the server.`,
    );
  }
  if ((err.code && UNREACHABLE_CODES.has(err.code)) || /timed out/i.test(err.message)) {
    return new BerthError('SshUnreachable', `Cannot reach ${who} (${err.code ?? err.message}): check the address, port and that sshd is running.`);
  }
  return new BerthError('SshUnreachable', `SSH connection to ${who} failed: ${err.message}`);
}
