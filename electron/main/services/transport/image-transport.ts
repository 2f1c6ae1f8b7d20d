import type { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type Docker from 'dockerode';
import { BerthError } from '../../../../shared/errors';
import { imagePlatform } from '../../../../shared/platform';
import type { ImageTransferPhase, ImageTransferProgress, ImageTransferStats } from '../../../../shared/transport-progress';
import { createRepacker } from './image-archive';
import { LoadChannel, fanOut } from './image-channel';
import { chainIds, estimateLayerSizes, missingLayers, presentChains } from './image-layers';
import { loadCommand, readInventory, remoteImageId, tagRemote, verifyRemote, type ImageShell } from './image-remote';

/**
 * Moves a locally built image to servers over SSH without a registry: each server gets only the layers it lacks
 * (compared by chain id), gzip-compressed on the wire, all servers in parallel from one `docker save`, and the
 * image id is verified on arrival. One server failing never stops the others; the caller decides all-or-nothing.
 */

export type ImageSendResult = ({ ok: true } & ImageTransferStats) | { ok: false; error: BerthError; bytesSent: number; durationMs: number };

export interface ImageSendOptions {
  signal?: AbortSignal;
  onProgress?: (event: ImageTransferProgress) => void;
  /**
   * 'shared' (default): one `docker save` for all servers, parsed once; servers lacking the same layers also share
   * one gzip stream. 'perServer': one save and one gzip per server (no server waits for a slower one).
   */
  saveMode?: 'shared' | 'perServer';
}

export interface ImageTransportTimeouts {
  /** Getting an SSH connection. */
  connectMs: number;
  /** Each short remote command (inventory, tag, verify). */
  commandMs: number;
  /** No data accepted by a server's channel for this long while data waits: that server fails. */
  stallMs: number;
  /** From the last byte sent until docker load exits. */
  loadMs: number;
}

export interface ImageTransportDeps {
  docker: Pick<Docker, 'getImage'>;
  connection: (serverId: number) => Promise<ImageShell>;
  timeouts?: Partial<ImageTransportTimeouts>;
  /**
   * gzip level on the wire (default 1: ~65 MB/s of CPU per stream here, and typical Python layers shrink to a
   * third). 0 sends the tar uncompressed: better on a LAN faster than the sender's gzip.
   */
  gzipLevel?: number;
}

const DEFAULT_TIMEOUTS: ImageTransportTimeouts = { connectMs: 30_000, commandMs: 60_000, stallMs: 30_000, loadMs: 15 * 60_000 };
const PROGRESS_INTERVAL_MS = 250;

interface LocalImage {
  ref: string;
  id: string;
  diffIds: string[];
  chains: string[];
  layerSizes: number[];
}

/** One server's transfer state, from comparing to done/failed. */
interface Transfer {
  serverId: number;
  started: number;
  /** When the transfer ended (done or failed), for its duration. */
  ended?: number;
  phase: ImageTransferPhase;
  ssh?: ImageShell;
  missing: boolean[];
  compress: boolean;
  bytesTotal: number;
  bytesSent: number;
  bytesPacked: number;
  layersSent: number;
  layersSkipped: number;
  alreadyPresent: boolean;
  retried: boolean;
  error?: BerthError;
}

export function createImageTransport(deps: ImageTransportDeps) {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...deps.timeouts };
  /** A remote command's own timeout starts once its channel is open; this one also covers a dead connection. */
  const bounded = <T>(promise: Promise<T>, what: string, signal?: AbortSignal) => withTimeout(promise, timeouts.commandMs + 5000, what, signal);
  const gzipLevel = deps.gzipLevel ?? 1;

  async function inspectLocal(ref: string): Promise<LocalImage> {
    const image = deps.docker.getImage(ref);
    const info = await image.inspect().catch((err: unknown) => {
      throw localError(err, ref);
    });
    const diffIds = info.RootFS?.Layers ?? [];
    if (diffIds.length === 0) throw new BerthError('ValidationError', `${ref} has no layers to send`);
    const history = await image.history().catch(() => [] as { Size: number }[]);
    return { ref, id: info.Id, diffIds, chains: chainIds(diffIds), layerSizes: estimateLayerSizes(history, diffIds.length) };
  }

  /** The local image id a reference names (recorded with a deployed version). */
  async function localId(ref: string): Promise<string> {
    return (await inspectLocal(ref)).id;
  }

  /** What the local image was built for (checked against the servers' platform before anything is sent). */
  async function localPlatform(ref: string): Promise<string> {
    const info = await deps.docker.getImage(ref).inspect().catch((err: unknown) => {
      throw localError(err, ref);
    });
    return imagePlatform(info);
  }

  /** Whether a server has exactly this image under this reference. */
  async function present(serverId: number, ref: string, expectedId?: string): Promise<boolean> {
    const ssh = await withTimeout(deps.connection(serverId), timeouts.connectMs, `Connecting to server ${serverId}`);
    const id = await bounded(remoteImageId(ssh, ref, timeouts.commandMs), `Looking for ${ref} on server ${serverId}`);
    return id !== null && (expectedId === undefined || id === expectedId);
  }

  /** Sends `ref` to every server; resolves with one result per server (a failure is a result, not a rejection). */
  async function send(ref: string, serverIds: readonly number[], options: ImageSendOptions = {}): Promise<Map<number, ImageSendResult>> {
    const { signal } = options;
    if (signal?.aborted) throw cancelled();
    const image = await inspectLocal(ref);
    const transfers = [...new Set(serverIds)].map(
      (serverId): Transfer => ({
        serverId,
        started: Date.now(),
        phase: 'comparing',
        missing: [],
        compress: true,
        bytesTotal: 0,
        bytesSent: 0,
        bytesPacked: 0,
        layersSent: 0,
        layersSkipped: 0,
        alreadyPresent: false,
        retried: false,
      }),
    );
    const emit = (t: Transfer, message: string) =>
      options.onProgress?.({
        serverId: t.serverId,
        phase: t.phase,
        message,
        bytesSent: t.bytesSent,
        bytesPacked: t.bytesPacked,
        bytesTotal: Math.max(t.bytesTotal, t.bytesPacked),
        layersSent: t.layersSent,
        layersSkipped: t.layersSkipped,
        layersTotal: image.diffIds.length,
        ...(t.error ? { error: t.error.toJSON() } : {}),
      });
    const fail = (t: Transfer, err: unknown) => {
      if (t.phase === 'failed') return;
      t.error = signal?.aborted ? cancelled() : BerthError.from(err);
      t.phase = 'failed';
      t.ended = Date.now();
      emit(t, t.error.message);
    };
    const done = (t: Transfer, message: string) => {
      t.phase = 'done';
      t.ended = Date.now();
      emit(t, message);
    };

    // 1. Compare: what each server has. Servers holding the image (under any name) are done without sending.
    await Promise.all(
      transfers.map(async (t) => {
        emit(t, 'comparing layers');
        try {
          t.ssh = await withTimeout(deps.connection(t.serverId), timeouts.connectMs, `Connecting to server ${t.serverId}`, signal);
          const host = t.ssh.target.host;
          const inventory = await bounded(readInventory(t.ssh, ref, image.id, timeouts.commandMs, signal), `Listing the images on ${host}`, signal);
          if (inventory.refId === image.id || inventory.hasId) {
            if (inventory.refId !== image.id) await bounded(tagRemote(t.ssh, image.id, ref, timeouts.commandMs, signal), `Tagging ${ref} on ${host}`, signal);
            t.alreadyPresent = true;
            t.layersSkipped = image.diffIds.length;
            done(t, `already on ${host}: nothing sent`);
            return;
          }
          t.missing = inventory.containerdStore ? image.chains.map(() => true) : missingLayers(image.chains, presentChains(inventory.layerLists));
          t.compress = inventory.gzip && gzipLevel > 0;
        } catch (err) {
          fail(t, err);
        }
      }),
    );

    // 2. Send to everyone still pending; a server whose load misses a layer it had a moment ago gets all of them once.
    let pending = transfers.filter((t) => t.phase === 'comparing');
    while (pending.length > 0 && !signal?.aborted) {
      if (options.saveMode === 'perServer') await Promise.all(pending.map((t) => sendRound(image, [t], emit, fail, done, signal)));
      else await sendRound(image, pending, emit, fail, done, signal);
      pending = pending.filter((t) => t.phase === 'comparing');
    }
    for (const t of transfers) if (t.phase !== 'done') fail(t, t.error ?? cancelled());

    return new Map(
      transfers.map((t): [number, ImageSendResult] => {
        const durationMs = (t.ended ?? Date.now()) - t.started;
        if (t.phase === 'done') {
          const { bytesSent, bytesPacked, layersSent, layersSkipped, alreadyPresent } = t;
          return [t.serverId, { ok: true, bytesSent, bytesPacked, layersSent, layersSkipped, alreadyPresent, durationMs }];
        }
        return [t.serverId, { ok: false, error: t.error ?? cancelled(), bytesSent: t.bytesSent, durationMs }];
      }),
    );
  }

  /**
   * One `docker save`, re-packed once per distinct set of missing layers (a "plan"), each plan gzipped once and
   * fanned out to its servers' channels. Leaves each transfer 'done', 'failed', or back at 'comparing' for a retry.
   */
  async function sendRound(
    image: LocalImage,
    transfers: Transfer[],
    emit: (t: Transfer, message: string) => void,
    fail: (t: Transfer, err: unknown) => void,
    done: (t: Transfer, message: string) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const plans = new Map<string, Transfer[]>();
    for (const t of transfers) {
      const key = `${t.compress ? 'gz' : 'raw'}:${t.missing.map(Number).join('')}`;
      plans.set(key, [...(plans.get(key) ?? []), t]);
    }
    const planList = [...plans.values()];

    // Open every channel first, so an unreachable server fails before the image is read.
    const channels = new Map<Transfer, LoadChannel>();
    await Promise.all(
      transfers.map(async (t) => {
        const missing = t.missing.filter(Boolean).length;
        t.layersSkipped = image.diffIds.length - missing;
        t.bytesTotal = image.layerSizes.reduce((sum, size, i) => sum + (t.missing[i] ? size : 0), 0);
        t.phase = 'sending';
        emit(t, `sending ${missing} of ${image.diffIds.length} layers (${t.layersSkipped} already there)`);
        try {
          const host = t.ssh!.target.host;
          const opening = t.ssh!.stream(loadCommand(t.compress));
          // a channel that opens after the timeout is closed again, not leaked
          opening.catch(() => undefined);
          const channel = await withTimeout(opening, timeouts.commandMs, `Opening a channel to ${host}`, signal).catch((err: unknown) => {
            void opening.then((late) => late.close(), () => undefined);
            throw err;
          });
          channels.set(
            t,
            new LoadChannel(channel, {
              host,
              stallTimeoutMs: timeouts.stallMs,
              loadTimeoutMs: timeouts.loadMs,
              onLoading: () => {
                t.phase = 'loading';
                emit(t, `${host} is loading the image`);
              },
            }),
          );
        } catch (err) {
          fail(t, err);
        }
      }),
    );
    const live = planList.map((members) => members.filter((t) => channels.has(t))).filter((members) => members.length > 0);
    if (live.length === 0) return;

    const repacker = createRepacker(image, live.map((members) => members[0].missing));
    let save: Readable | undefined;
    const onAbort = () => {
      save?.destroy(cancelled());
      for (const channel of channels.values()) channel.fail(cancelled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const ticker = setInterval(() => {
      live.forEach((members, plan) => {
        for (const t of members) {
          if (t.phase !== 'sending') continue;
          t.bytesSent = channels.get(t)!.bytesSent;
          t.bytesPacked = repacker.stats[plan].bytesPacked;
          t.layersSent = repacker.stats[plan].layersSent;
          emit(t, `sending: ${formatBytes(t.bytesSent)} sent`);
        }
      });
    }, PROGRESS_INTERVAL_MS);

    try {
      let saveError: BerthError | undefined;
      const packing = (async () => {
        try {
          save = (await deps.docker.getImage(image.ref).get()) as unknown as Readable;
          if (signal?.aborted) save.destroy(cancelled());
          await repacker.run(save);
        } catch (err) {
          saveError = signal?.aborted ? cancelled() : localError(err, image.ref, 'Reading the image from the local Docker engine failed');
          for (const plan of live.keys()) repacker.drop(plan, saveError);
        }
      })();
      const sending = live.map(async (members, plan) => {
        const receivers = members.map((t) => channels.get(t)!);
        const output = repacker.outputs[plan];
        const source = members[0].compress ? output.pipe(createGzip({ level: gzipLevel, chunkSize: 64 * 1024 })) : output;
        if (source !== output) output.on('error', (err: Error) => source.destroy(err));
        try {
          await fanOut(source as AsyncIterable<Buffer>, receivers);
        } catch (err) {
          repacker.drop(plan, err as Error);
          const reason = signal?.aborted ? cancelled() : (saveError ?? BerthError.from(err));
          for (const receiver of receivers) receiver.fail(reason);
        }
      });
      await Promise.all([packing, ...sending]);

      // Loaded (or failed) on each server; then check the id.
      await Promise.all(
        live.flatMap((members, plan) =>
          members.map(async (t) => {
            const channel = channels.get(t)!;
            try {
              await channel.result;
            } catch (err) {
              t.bytesSent = channel.bytesSent;
              if (isMissingLayerError(err) && !t.retried && !signal?.aborted) {
                // A layer the server had when compared was removed before the load: send it everything once more.
                t.retried = true;
                t.missing = t.missing.map(() => true);
                t.phase = 'comparing';
                return;
              }
              return fail(t, err);
            }
            t.bytesSent = channel.bytesSent;
            t.bytesPacked = repacker.stats[plan].bytesPacked;
            t.layersSent = repacker.stats[plan].layersSent;
            t.layersSkipped = repacker.stats[plan].layersSkipped;
            try {
              t.phase = 'verifying';
              emit(t, `verifying the image id on ${t.ssh!.target.host}`);
              const host = t.ssh!.target.host;
              await bounded(verifyRemote(t.ssh!, image.ref, image.id, timeouts.commandMs, signal), `Checking the image on ${host}`, signal);
              done(t, `done: ${formatBytes(t.bytesSent)} sent, ${t.layersSent} layer(s) sent, ${t.layersSkipped} already there`);
            } catch (err) {
              fail(t, err);
            }
          }),
        ),
      );
    } finally {
      clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return { send, present, localId, localPlatform };
}
export type ImageTransport = ReturnType<typeof createImageTransport>;

/**
 * The deploy orchestrator's view (services/deploy ImageSender): progress as (serverId, message, bytes), results
 * as ok/bytesSent or the error.
 */
export function asImageSender(transport: ImageTransport) {
  return {
    localId: transport.localId,
    localPlatform: transport.localPlatform,
    present: (serverId: number, ref: string) => transport.present(serverId, ref),
    send: (
      ref: string,
      serverIds: number[],
      options: { signal?: AbortSignal; onProgress?: (serverId: number, message: string, bytesSent?: number, bytesTotal?: number) => void },
    ) =>
      transport.send(ref, serverIds, {
        signal: options.signal,
        onProgress: (e) => options.onProgress?.(e.serverId, e.message, e.bytesSent, e.bytesTotal),
      }),
  };
}

function isMissingLayerError(err: unknown): boolean {
  return (
    err instanceof BerthError &&
    err.kind === 'RemoteCommandFailed' &&
    /(layer\.tar|blobs\/sha256\/[0-9a-f]{64}): no such file or directory/.test(err.message)
  );
}

const cancelled = () => new BerthError('Cancelled', 'The image transfer was cancelled');

function localError(err: unknown, ref: string, what = `Reading ${ref} from the local Docker engine failed`): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 404) return new BerthError('NotFound', `${ref} is not in the local Docker engine: build it first`);
  if (e.code && ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET'].includes(e.code)) {
    return new BerthError('DockerUnavailable', `${what}: the engine is not reachable (${e.code})`);
  }
  return new BerthError('DockerUnavailable', `${what}: ${e.message ?? String(err)}`);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new BerthError('SshUnreachable', `${what} took longer than ${Math.round(ms / 1000)} s`)), ms);
        onAbort = () => reject(cancelled());
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
