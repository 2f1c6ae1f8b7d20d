import type { ClientChannel } from 'ssh2';
import { BerthError } from '../../../../shared/errors';

export interface LoadChannelOptions {
  host: string;
  /** Fail when the channel accepts no data for this long while data waits (a cut link, a hung server). */
  stallTimeoutMs: number;
  /** Fail when `docker load` has not finished this long after the last byte was sent. */
  loadTimeoutMs: number;
  /** Called when all input was sent and the server is loading. */
  onLoading?: () => void;
}

const TAIL_BYTES = 4096;

/**
 * The sending end of one server's `docker load` over an SSH channel: writes with backpressure, counts the bytes
 * the channel accepted, and turns every way it can end into one result: load succeeded, load failed (with docker's
 * own error text, e.g. "no space left on device"), connection lost, stalled, timed out, or cancelled.
 */
export class LoadChannel {
  bytesSent = 0;
  /** Resolves when `docker load` exited 0 after all input; rejects with a BerthError otherwise. */
  readonly result: Promise<void>;
  private settled = false;
  private ended = false;
  private exitCode: number | null = null;
  private stdout = '';
  private stderr = '';
  private wake: (() => void)[] = [];
  private loadTimer: NodeJS.Timeout | undefined;
  private resolveResult!: () => void;
  private rejectResult!: (err: BerthError) => void;

  constructor(
    private readonly channel: ClientChannel,
    private readonly options: LoadChannelOptions,
  ) {
    this.result = new Promise<void>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => {}); // observed by the caller; never an unhandled rejection
    channel.on('data', (chunk: Buffer) => (this.stdout = tail(this.stdout + chunk.toString())));
    channel.stderr.on('data', (chunk: Buffer) => (this.stderr = tail(this.stderr + chunk.toString())));
    channel.on('exit', (code: number | null) => (this.exitCode = code ?? -1));
    channel.on('error', (err: Error) => this.fail(new BerthError('SshUnreachable', `SSH channel to ${options.host} failed: ${err.message}`)));
    channel.on('close', () => this.onClose());
  }

  get open(): boolean {
    return !this.settled && this.exitCode === null;
  }

  /** Resolves when the channel took the chunk (or can take no more: the result says why). */
  async write(chunk: Buffer): Promise<void> {
    if (!this.open) return;
    this.bytesSent += chunk.length;
    if (this.channel.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const stall = setTimeout(
        () =>
          this.fail(
            new BerthError(
              'SshUnreachable',
              `${this.options.host} accepted no data for ${Math.round(this.options.stallTimeoutMs / 1000)} s while the image was being sent: the connection is probably down`,
            ),
          ),
        this.options.stallTimeoutMs,
      );
      const done = () => {
        clearTimeout(stall);
        this.channel.removeListener('drain', done);
        this.wake = this.wake.filter((w) => w !== done);
        resolve();
      };
      this.channel.once('drain', done);
      this.wake.push(done);
    });
  }

  /** All input was written: let the server finish loading, within the load timeout. */
  end(): void {
    if (!this.open || this.ended) return;
    this.ended = true;
    this.channel.end();
    this.options.onLoading?.();
    this.loadTimer = setTimeout(
      () =>
        this.fail(
          new BerthError('RemoteCommandFailed', `docker load on ${this.options.host} did not finish within ${Math.round(this.options.loadTimeoutMs / 1000)} s`),
        ),
      this.options.loadTimeoutMs,
    );
  }

  /** Stops this transfer (cancel, stall, a local error); the server's docker load sees a cut stream and loads nothing. */
  fail(error: BerthError): void {
    if (this.settled) return;
    this.settle(error);
    try {
      this.channel.close();
    } catch {
      // the connection is already gone
    }
  }

  private onClose(): void {
    if (this.settled) return;
    if (this.exitCode === 0 && this.ended) return this.settle();
    if (this.exitCode !== null) {
      const output = (this.stderr.trim() || this.stdout.trim() || 'no error output').replace(/\s+/g, ' ');
      const reason = this.exitCode === 0 ? `it stopped reading before the whole image was sent: ${output}` : `exit ${this.exitCode}: ${output}`;
      return this.settle(new BerthError('RemoteCommandFailed', `docker load failed on ${this.options.host} (${reason})`, { stderr: this.stderr }));
    }
    this.settle(new BerthError('SshUnreachable', `The connection to ${this.options.host} was lost while ${this.ended ? 'it was loading' : 'sending'} the image`));
  }

  private settle(error?: BerthError): void {
    this.settled = true;
    clearTimeout(this.loadTimer);
    for (const wake of this.wake.splice(0)) wake();
    if (error) this.rejectResult(error);
    else this.resolveResult();
  }
}

const tail = (text: string) => (text.length > TAIL_BYTES ? text.slice(-TAIL_BYTES) : text);

/** Sends one stream to several channels; the slowest sets the pace, a failed one is left behind. */
export async function fanOut(source: AsyncIterable<Buffer>, channels: readonly LoadChannel[]): Promise<void> {
  for await (const chunk of source) {
    const open = channels.filter((c) => c.open);
    if (open.length === 0) throw new Error('no server is receiving this stream any more');
    await Promise.all(open.map((c) => c.write(chunk)));
  }
  for (const c of channels) c.end();
}
