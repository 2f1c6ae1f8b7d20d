import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { LOCAL_KEY_TYPE, SshConnection, type CommandCarrier, type SshTarget } from './ssh';

/**
 * "This computer" as a server (docs/ARCHITECTURE.md): the same remote commands, run by this computer's `/bin/sh`
 * instead of an SSH server's, so the local Docker engine runs the same gateway, replicas and group state. Nothing
 * listens and nothing logs in: the shell is the user's own, with the user's rights.
 */
export const LOCAL_HOST = '127.0.0.1';
/** Stands for the pinned host key in the servers table: there is no key to pin on a local shell. */
export const LOCAL_FINGERPRINT = 'local';
/** The servers table wants a port; no SSH port is used (22 keeps its range check and reads as the usual). */
export const LOCAL_PORT = 22;

/** One command's process as the channel an SSH exec would give: stdout is the data, `exit` and `close` follow the process. */
class LocalChannel extends Duplex {
  readonly stderr: NodeJS.ReadableStream;

  constructor(private readonly child: ChildProcess) {
    // Its 'close' is the process's (below), not the stream's own.
    super({ emitClose: false, autoDestroy: false });
    this.stderr = child.stderr!;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout!.pause();
    });
    child.stdin!.on('drain', () => this.emit('drain'));
    child.stdin!.on('error', () => {}); // a command that exits before reading its stdin (EPIPE) is not an error of ours
    child.on('error', (err) => this.emit('error', err));
    // 'close' waits for the process's output to be read out, as an SSH channel's close follows its EOF.
    child.on('close', (code, signal) => {
      this.emit('exit', code ?? (signal ? 128 : -1));
      this.push(null);
      this.emit('close');
    });
  }

  _read(): void {
    this.child.stdout!.resume();
  }

  _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.child.stdin!.write(chunk)) done();
    else this.child.stdin!.once('drain', () => done());
  }

  _final(done: () => void): void {
    this.child.stdin!.end(done);
  }

  /** Like closing an SSH channel: the command's process group goes. */
  close(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

/** The carrier an SshConnection needs, made of this computer's shell. */
function localCarrier(): CommandCarrier {
  const closeListeners = new Set<() => void>();
  return {
    exec(command, callback) {
      // Its own process group, so a cancel stops the whole pipeline the command is.
      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      // The members Berth uses of a ClientChannel (data, exit, close, stderr, write, end, close()) are all here.
      queueMicrotask(() => callback(undefined, new LocalChannel(child) as unknown as ClientChannel));
    },
    on(_event, listener) {
      closeListeners.add(listener);
    },
    end() {
      for (const listener of closeListeners) listener();
      closeListeners.clear();
    },
  };
}

/** A connection to this computer: never a member's login (berth-shell is for keys of a team), never refused a verb. */
export function connectLocal(username: string): SshConnection {
  const target: SshTarget = { host: LOCAL_HOST, port: LOCAL_PORT, username };
  return new SshConnection(target, { host: LOCAL_HOST, port: LOCAL_PORT, keyType: LOCAL_KEY_TYPE, fingerprint: LOCAL_FINGERPRINT }, localCarrier());
}
