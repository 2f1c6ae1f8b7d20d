import { PassThrough, type Readable } from 'node:stream';
import tar, { type Header, type Pack } from 'tar-stream';
import { legacyLayerIndex } from './image-layers';

/**
 * Re-packs one `docker save` stream into one tar per *plan* (a set of servers lacking the same layers), leaving out
 * the layer tars a plan's servers already hold. The save stream is parsed once, while it streams: nothing of an
 * image is held in memory beyond a chunk and the small metadata files.
 *
 * Both save formats are handled, because `docker load` only follows manifest.json's Config and Layers paths:
 * - Docker ≤ 24: `<v1 id>/{VERSION,json,layer.tar}`; the directory's json comes before its layer.tar (entries are
 *   sorted) and tells which layer it is (legacyLayerIndex).
 * - Docker ≥ 25: OCI layout (`index.json`, `blobs/sha256/<digest>`) plus a legacy manifest.json whose Layers are
 *   `blobs/sha256/<diff id>` (uncompressed), so a blob named by a diff id is that layer.
 * A tar that cannot be identified is always sent: a bigger transfer, never a broken image.
 */

export interface ImageLayers {
  diffIds: readonly string[];
  chains: readonly string[];
}

export interface RepackStats {
  /** Uncompressed bytes packed so far (entry data plus a 512-byte header each). */
  bytesPacked: number;
  layersSent: number;
  layersSkipped: number;
}

export interface Repacker {
  /** One tar per plan, in the order of `plans`; consume each (backpressure reaches the save stream). */
  readonly outputs: Readable[];
  readonly stats: RepackStats[];
  /** Stops producing plan i's tar (all its receivers failed); the others continue. */
  drop(plan: number, error: Error): void;
  /** Reads the save stream to its end and finalizes every live output (their consumers see the end). */
  run(save: Readable): Promise<void>;
}

const LEGACY_LAYER = /^([0-9a-f]{64})\/layer\.tar$/;
const LEGACY_JSON = /^([0-9a-f]{64})\/json$/;
const BLOB = /^blobs\/sha256\/([0-9a-f]{64})$/;
const MAX_METADATA_CAPTURE = 1 << 20;

/** What an entry of the save stream is: a layer (with the indexes it holds, or unknown) or anything else. */
type EntryKind = { layer: true; indexes: number[] | 'unknown' } | { layer: false };

/** missing[plan][i]: layer i must be sent for that plan. */
export function createRepacker(image: ImageLayers, missing: readonly (readonly boolean[])[]): Repacker {
  const packs = missing.map(() => tar.pack());
  // Consumers get plain Node streams: their iteration reliably ends with the error when a plan is dropped mid-entry.
  const outputs = packs.map((pack) => {
    pack.on('error', () => {}); // a dropped plan's error is reported through its output
    return pack.pipe(new PassThrough({ highWaterMark: 1 << 20 }));
  });
  const stats: RepackStats[] = missing.map(() => ({ bytesPacked: 0, layersSent: 0, layersSkipped: 0 }));
  const dropped = missing.map(() => false);
  const droppedWaiters = missing.map(() => [] as (() => void)[]);
  const legacyJson = new Map<string, string>();
  const diffIdIndexes = new Map<string, number[]>();
  image.diffIds.forEach((diffId, i) => {
    const hex = diffId.replace(/^sha256:/, '');
    diffIdIndexes.set(hex, [...(diffIdIndexes.get(hex) ?? []), i]);
  });
  let save: Readable | undefined;

  function drop(plan: number, error: Error) {
    if (dropped[plan]) return;
    dropped[plan] = true;
    for (const wake of droppedWaiters[plan].splice(0)) wake();
    packs[plan].destroy(error);
    outputs[plan].destroy(error);
    if (dropped.every(Boolean)) save?.destroy(error);
  }

  function classify(name: string): EntryKind {
    const legacy = LEGACY_LAYER.exec(name);
    if (legacy) {
      const json = legacyJson.get(legacy[1]);
      const index = json === undefined ? undefined : legacyLayerIndex(legacy[1], json, image.chains);
      return { layer: true, indexes: index === undefined ? 'unknown' : [index] };
    }
    const blob = BLOB.exec(name);
    const indexes = blob ? diffIdIndexes.get(blob[1]) : undefined;
    if (indexes) return { layer: true, indexes };
    return { layer: false };
  }

  function wants(plan: number, kind: EntryKind): boolean {
    if (dropped[plan]) return false;
    if (!kind.layer || kind.indexes === 'unknown') return true;
    return kind.indexes.some((i) => missing[plan][i]);
  }

  /** Writes a chunk to a plan's current entry; resolves on drain, or at once if the plan was dropped meanwhile. */
  async function write(plan: number, sink: Sink, chunk: Buffer): Promise<void> {
    if (dropped[plan]) return;
    stats[plan].bytesPacked += chunk.length;
    if (sink.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        sink.removeListener('drain', done);
        droppedWaiters[plan] = droppedWaiters[plan].filter((w) => w !== done);
        resolve();
      };
      sink.once('drain', done);
      droppedWaiters[plan].push(done);
    });
  }

  async function copyEntry(header: Header, entry: AsyncIterable<unknown>, kind: EntryKind): Promise<void> {
    const targets = missing.map((_, plan) => plan).filter((plan) => wants(plan, kind));
    if (kind.layer) {
      for (const plan of missing.keys()) {
        if (dropped[plan]) continue;
        if (targets.includes(plan)) stats[plan].layersSent++;
        else stats[plan].layersSkipped++;
      }
    }
    const legacy = LEGACY_JSON.exec(header.name);
    const capture = legacy && (header.size ?? 0) <= MAX_METADATA_CAPTURE ? ([] as Buffer[]) : undefined;
    const sinks = targets.map((plan) => {
      const sink = packs[plan].entry(copyHeader(header));
      stats[plan].bytesPacked += 512;
      sink.on('error', () => {}); // surfaces through the plan's output stream
      return { plan, sink };
    });
    for await (const data of entry) {
      const chunk = data as Buffer;
      capture?.push(chunk);
      if (sinks.length > 0) await Promise.all(sinks.map(({ plan, sink }) => write(plan, sink, chunk)));
    }
    for (const { plan, sink } of sinks) if (!dropped[plan]) sink.end(undefined);
    if (capture && legacy) legacyJson.set(legacy[1], Buffer.concat(capture).toString('utf8'));
  }

  async function run(input: Readable): Promise<void> {
    save = input;
    if (dropped.every(Boolean)) {
      input.destroy();
      throw new Error('no server is waiting for this image any more');
    }
    const extract = tar.extract();
    extract.on('entry', (header, entry, next) => {
      copyEntry(header, entry, classify(header.name)).then(
        () => next(),
        (err: unknown) => next(err as Error),
      );
    });
    const finished = new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve);
      extract.on('error', reject);
      extract.on('close', () => reject(new Error('the image stream ended early')));
    });
    input.on('error', (err) => extract.destroy(err));
    // a destroyed source emits neither 'end' nor (always) 'error': without this the extract would wait forever
    let ended = false;
    input.on('end', () => (ended = true));
    input.on('close', () => ended || extract.destroy(new Error('the image stream from Docker stopped before its end')));
    input.pipe(extract);
    try {
      await finished;
    } catch (err) {
      input.destroy();
      throw err; // the caller drops the plans with an error that says what failed
    }
    for (const [plan, pack] of packs.entries()) if (!dropped[plan]) pack.finalize();
  }

  return { outputs, stats, drop, run };
}

type Sink = ReturnType<Pack['entry']>;

function copyHeader(header: Header): Header {
  const { name, mode, uid, gid, size, mtime, type, linkname, uname, gname, devmajor, devminor, pax } = header;
  return { name, mode, uid, gid, size, mtime, type, linkname, uname, gname, devmajor, devminor, ...(pax ? { pax } : {}) };
}
