import type { RemoteCommand } from '../../../electron/main/services/remote/command';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ClientChannel } from 'ssh2';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import type { ImageTransferProgress } from '../../../shared/transport-progress';
import type { ImageShell } from '../../../electron/main/services/transport/image-remote';
import { asImageSender, createImageTransport, type ImageSendResult } from '../../../electron/main/services/transport/image-transport';
import type { ExecOptions, ExecResult } from '../../../electron/main/services/transport/ssh';

// A 3-layer image in the Docker 25+ save format (layers are blobs named by diff id): enough to exercise the
// transport end to end against fake engines; the real engines are in test/integration/transport.
const hex = (c: string) => c.repeat(64);
const diffIds = [`sha256:${hex('1')}`, `sha256:${hex('2')}`, `sha256:${hex('3')}`];
const IMAGE_ID = `sha256:${hex('e')}`;
const REF = 'berth/iris:v3';
const layerBytes = (i: number) => Buffer.alloc(200_000 + i, 48 + i);

function saveStream(): Readable {
  const pack = tar.pack();
  for (const [i, d] of diffIds.entries()) pack.entry({ name: `blobs/sha256/${d.slice(7)}` }, layerBytes(i));
  pack.entry({ name: `blobs/sha256/${IMAGE_ID.slice(7)}` }, Buffer.from('{"config":{}}'));
  pack.entry({ name: 'manifest.json' }, Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${IMAGE_ID.slice(7)}`, RepoTags: [REF], Layers: diffIds.map((d) => `blobs/sha256/${d.slice(7)}`) }])));
  pack.finalize();
  return Readable.from(pack as AsyncIterable<Buffer>);
}

function fakeDocker(options: { missing?: boolean; saveFails?: boolean; saveHangs?: boolean } = {}) {
  let saves = 0;
  return {
    get saves() {
      return saves;
    },
    getImage: (ref: string) => ({
      inspect: async () => {
        if (options.missing) throw Object.assign(new Error('no such image'), { statusCode: 404 });
        return { Id: IMAGE_ID, RootFS: { Layers: diffIds } };
      },
      history: async () => [{ Size: 300 }, { Size: 0 }, { Size: 200 }, { Size: 100 }],
      get: async () => {
        saves++;
        if (ref !== REF) throw new Error(`unexpected ref ${ref}`);
        if (options.saveHangs) {
          // the first part of the image, then nothing: like a docker save stuck in the engine
          const hanging = new PassThrough();
          const first = saveStream();
          first.once('data', (chunk: Buffer) => {
            hanging.write(chunk);
            first.destroy();
          });
          return hanging;
        }
        if (!options.saveFails) return saveStream();
        const broken = new PassThrough();
        setTimeout(() => broken.destroy(Object.assign(new Error('connect ECONNRESET /var/run/docker.sock'), { code: 'ECONNRESET' })), 5);
        return broken;
      },
    }),
  } as unknown as Parameters<typeof createImageTransport>[0]['docker'] & { saves: number };
}

/** What the fake server does with a `docker load` stream. */
type LoadBehaviour =
  | { kind: 'load' }
  | { kind: 'fail'; code: number; stderr: string; afterBytes?: number }
  | { kind: 'stall' }
  | { kind: 'missingLayerOnce' };

/** An SSH channel running `[gzip -dc |] docker load`: unpacks what it receives and reports the entry names. */
class FakeLoadChannel extends Duplex {
  readonly stderr = new PassThrough();
  received = 0;
  private readonly tarInput: PassThrough;
  constructor(
    private readonly server: FakeServer,
    compressed: boolean,
    private readonly behaviour: LoadBehaviour,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.tarInput = new PassThrough();
    const extract = tar.extract();
    const names: string[] = [];
    extract.on('entry', (header, stream, next) => {
      names.push(header.name);
      stream.on('end', () => next());
      stream.resume();
    });
    extract.on('finish', () => this.finishLoad(names));
    extract.on('error', () => this.exit(1, 'unexpected EOF'));
    (compressed ? this.tarInput.pipe(createGunzip()) : this.tarInput).pipe(extract as unknown as NodeJS.WritableStream);
  }
  _read() {}
  _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error) => void) {
    this.received += chunk.length;
    const b = this.behaviour;
    if (b.kind === 'stall') return; // never calls back: the window never opens again
    if (b.kind === 'fail' && this.received >= (b.afterBytes ?? Infinity)) {
      this.exit(b.code, b.stderr);
      return cb();
    }
    this.tarInput.write(chunk, () => cb());
  }
  _final(cb: () => void) {
    this.tarInput.end();
    cb();
  }
  close() {
    this.server.closedChannels++;
    this.exit(null, '');
  }
  private finishLoad(names: string[]) {
    const b = this.behaviour;
    this.server.loads.push(names);
    if (b.kind === 'fail') return this.exit(b.code, b.stderr);
    const layers = names.filter((n) => diffIds.some((d) => n.endsWith(d.slice(7))));
    if (b.kind === 'missingLayerOnce' && this.server.loads.length === 1 && layers.length < diffIds.length) {
      return this.exit(1, `open /var/lib/docker/tmp/docker-import-1/blobs/sha256/${diffIds[0].slice(7)}: no such file or directory`);
    }
    this.server.imageId = IMAGE_ID;
    this.exit(0, '');
  }
  private exited = false;
  private exit(code: number | null, stderr: string) {
    if (this.exited) return;
    this.exited = true;
    if (stderr) this.stderr.write(stderr);
    setImmediate(() => {
      if (code !== null) this.emit('exit', code);
      this.emit('close');
    });
  }
}

class FakeServer implements ImageShell {
  readonly target: { host: string };
  imageId: string | null = null;
  loads: string[][] = [];
  commands: string[] = [];
  closedChannels = 0;
  channels: FakeLoadChannel[] = [];
  constructor(
    host: string,
    private readonly opts: { layers?: string[][]; gzip?: boolean; containerd?: boolean; behaviour?: LoadBehaviour; verifyId?: string; hasIdElsewhere?: boolean } = {},
  ) {
    this.target = { host };
  }
  async exec(remote: RemoteCommand, _options?: ExecOptions): Promise<ExecResult> {
    const command = String(remote);
    this.commands.push(command);
    const ok = (out: string): ExecResult => ({ stdout: Buffer.from(out), stderr: '', code: 0 });
    if (command.includes('docker image ls')) {
      const lines = [`ref=${this.imageId ?? ''}`];
      if (this.opts.hasIdElsewhere) lines.push('has-id=yes');
      if (this.opts.gzip !== false) lines.push('gzip=yes');
      lines.push(`driver=${this.opts.containerd ? '[["driver-type","io.containerd.snapshotter.v1"]]' : '[]'}`);
      for (const list of this.opts.layers ?? []) lines.push(`layers=${JSON.stringify(list)}`);
      return ok(lines.join('\n') + '\n');
    }
    if (command.startsWith('docker image inspect')) {
      const id = this.opts.verifyId ?? this.imageId;
      return id ? ok(id + '\n') : { stdout: Buffer.alloc(0), stderr: 'Error: No such image', code: 1 };
    }
    if (command.startsWith('docker tag')) {
      this.imageId = IMAGE_ID;
      return ok('');
    }
    throw new Error(`unexpected command ${command}`);
  }
  async run(command: RemoteCommand, options?: ExecOptions): Promise<string> {
    const r = await this.exec(command, options);
    if (r.code !== 0) throw new BerthError('RemoteCommandFailed', r.stderr);
    return r.stdout.toString();
  }
  async stream(remote: RemoteCommand): Promise<ClientChannel> {
    const command = String(remote);
    this.commands.push(command);
    const channel = new FakeLoadChannel(this, command.includes('gzip -dc'), this.opts.behaviour ?? { kind: 'load' });
    this.channels.push(channel);
    return channel as unknown as ClientChannel;
  }
}

function setup(servers: Record<number, FakeServer>, docker = fakeDocker(), timeouts = {}) {
  const transport = createImageTransport({
    docker,
    connection: async (id) => {
      if (!servers[id]) throw new BerthError('SshUnreachable', `Cannot reach server ${id}`);
      return servers[id];
    },
    timeouts: { stallMs: 300, ...timeouts },
  });
  return { transport, docker };
}

const ok = (r: ImageSendResult | undefined) => {
  if (!r?.ok) throw new Error(`expected success, got ${r && !r.ok ? r.error.message : 'nothing'}`);
  return r;
};
const err = (r: ImageSendResult | undefined) => {
  if (!r || r.ok) throw new Error('expected a failure');
  return r.error;
};
const layerNames = (names: string[]) => names.filter((n) => diffIds.some((d) => n.endsWith(d.slice(7))));

describe('createImageTransport (fake engines)', () => {
  it('sends each server only what it lacks, one save for all, and reports progress per server', async () => {
    const fresh = new FakeServer('fresh');
    const hasBase = new FakeServer('has-base', { layers: [diffIds.slice(0, 2), [`sha256:${hex('9')}`]] });
    const { transport, docker } = setup({ 1: fresh, 2: hasBase });
    const events: ImageTransferProgress[] = [];
    const results = await transport.send(REF, [1, 2], { onProgress: (e) => events.push(e) });
    expect(ok(results.get(1))).toMatchObject({ layersSent: 3, layersSkipped: 0, alreadyPresent: false });
    expect(ok(results.get(2))).toMatchObject({ layersSent: 1, layersSkipped: 2 });
    expect(layerNames(fresh.loads[0])).toHaveLength(3);
    expect(layerNames(hasBase.loads[0])).toEqual([`blobs/sha256/${hex('3')}`]);
    expect(hasBase.loads[0]).toContain('manifest.json');
    expect(docker.saves).toBe(1);
    // bytes counted are what went into the channel: gzip makes the repeated bytes tiny
    expect(ok(results.get(1)).bytesSent).toBe(fresh.channels[0].received);
    expect(ok(results.get(1)).bytesSent).toBeLessThan(ok(results.get(1)).bytesPacked / 10);
    expect(fresh.commands).toContain("sh -c 'gzip -dc | docker load' sh");
    const phases = (id: number) => [...new Set(events.filter((e) => e.serverId === id).map((e) => e.phase))];
    expect(phases(1)).toEqual(['comparing', 'sending', 'loading', 'verifying', 'done']);
    // bytesTotal is estimated from history: all three layers for the fresh server, only the top one for the other
    expect(events.find((e) => e.serverId === 1 && e.phase === 'sending')?.bytesTotal).toBe(600);
    expect(events.find((e) => e.serverId === 2 && e.phase === 'sending')?.bytesTotal).toBe(300);
    expect(events.find((e) => e.serverId === 2 && e.phase === 'done')).toMatchObject({ layersSent: 1, layersSkipped: 2, layersTotal: 3 });
  });

  it('sends nothing to a server that has the image, and only tags it when it has the id under another name', async () => {
    const same = new FakeServer('same');
    same.imageId = IMAGE_ID;
    const elsewhere = new FakeServer('elsewhere', { hasIdElsewhere: true });
    const { transport, docker } = setup({ 1: same, 2: elsewhere });
    const results = await transport.send(REF, [1, 2]);
    expect(ok(results.get(1))).toMatchObject({ alreadyPresent: true, bytesSent: 0, layersSent: 0, layersSkipped: 3 });
    expect(ok(results.get(2))).toMatchObject({ alreadyPresent: true, bytesSent: 0 });
    expect(elsewhere.commands).toContain(`docker tag ${IMAGE_ID} ${REF}`);
    expect(same.commands.some((c) => c.startsWith('docker tag'))).toBe(false);
    expect(docker.saves).toBe(0);
  });

  it('surfaces docker load’s own error (disk full) for that server while the others succeed', async () => {
    const full = new FakeServer('full', {
      behaviour: { kind: 'fail', code: 1, stderr: 'Error processing tar file(exit status 1): write /var/lib/docker/tmp/docker-import-42/blobs/sha256/x: no space left on device\n', afterBytes: 1 },
    });
    const fine = new FakeServer('fine');
    const { transport } = setup({ 1: full, 2: fine });
    const results = await transport.send(REF, [1, 2]);
    const e = err(results.get(1));
    expect(e.kind).toBe('RemoteCommandFailed');
    expect(e.message).toMatch(/docker load failed on full \(exit 1: .*no space left on device/);
    expect(ok(results.get(2)).layersSent).toBe(3);
    expect(full.imageId).toBeNull();
  });

  it('fails a server whose channel stops accepting data (a cut link) after the stall timeout, not the others', async () => {
    // uncompressed, so the stream outgrows the channel's buffer; both share one stream, so 'fine' waits for 'cut'
    const cut = new FakeServer('cut', { gzip: false, behaviour: { kind: 'stall' } });
    const fine = new FakeServer('fine', { gzip: false });
    const { transport } = setup({ 1: cut, 2: fine });
    const t0 = Date.now();
    const results = await transport.send(REF, [1, 2], { saveMode: 'shared' });
    expect(Date.now() - t0).toBeLessThan(3000);
    const e = err(results.get(1));
    expect(e.kind).toBe('SshUnreachable');
    expect(e.message).toMatch(/cut accepted no data for 0 s/);
    expect(cut.closedChannels).toBe(1);
    expect(ok(results.get(2)).layersSent).toBe(3);
  });

  it('resends everything once when a layer the server had vanished before the load', async () => {
    const racy = new FakeServer('racy', { layers: [diffIds.slice(0, 1)], behaviour: { kind: 'missingLayerOnce' } });
    const { transport, docker } = setup({ 1: racy });
    const r = ok((await transport.send(REF, [1])).get(1));
    expect(racy.loads.map((names) => layerNames(names).length)).toEqual([2, 3]);
    expect(r.layersSent).toBe(3);
    expect(docker.saves).toBe(2);
  });

  it('throws RemoteCommandFailed naming both ids when the loaded image is not the local one', async () => {
    const odd = new FakeServer('odd', { verifyId: `sha256:${hex('f')}` });
    const { transport } = setup({ 1: odd });
    const e = err((await transport.send(REF, [1])).get(1));
    expect(e.kind).toBe('RemoteCommandFailed');
    expect(e.message).toContain(`odd: ${REF} is image sha256:${hex('f')} after the load, but the local image is ${IMAGE_ID}`);
  });

  it('sends every layer to a containerd image store and raw tar where gzip is missing', async () => {
    const containerd = new FakeServer('containerd', { layers: [diffIds], containerd: true });
    const noGzip = new FakeServer('no-gzip', { gzip: false, layers: [diffIds.slice(0, 2)] });
    const { transport } = setup({ 1: containerd, 2: noGzip });
    const results = await transport.send(REF, [1, 2]);
    expect(ok(results.get(1)).layersSent).toBe(3);
    expect(noGzip.commands).toContain('docker load');
    expect(ok(results.get(2)).layersSent).toBe(1);
    expect(ok(results.get(2)).bytesSent).toBeGreaterThan(200_000); // uncompressed
  });

  it('gzipLevel 0 sends the tar uncompressed even where gzip exists', async () => {
    const server = new FakeServer('lan');
    const transport = createImageTransport({ docker: fakeDocker(), connection: async () => server, gzipLevel: 0 });
    const r = ok((await transport.send(REF, [1])).get(1));
    expect(server.commands).toContain('docker load');
    expect(r.bytesSent).toBeGreaterThan(600_000);
  });

  it('per-server mode runs one save per server', async () => {
    const a = new FakeServer('a');
    const b = new FakeServer('b', { layers: [diffIds.slice(0, 2)] });
    const { transport, docker } = setup({ 1: a, 2: b });
    const results = await transport.send(REF, [1, 2], { saveMode: 'perServer' });
    expect(ok(results.get(1)).layersSent).toBe(3);
    expect(ok(results.get(2)).layersSent).toBe(1);
    expect(docker.saves).toBe(2);
  });

  it('cancels: every server ends Cancelled and channels are closed', async () => {
    const slow = new FakeServer('slow', { behaviour: { kind: 'stall' } });
    const { transport } = setup({ 1: slow }, fakeDocker(), { stallMs: 60_000 });
    const controller = new AbortController();
    const pending = transport.send(REF, [1], {
      signal: controller.signal,
      onProgress: (e) => e.phase === 'sending' && setTimeout(() => controller.abort(), 20),
    });
    const e = err((await pending).get(1));
    expect(e.kind).toBe('Cancelled');
    expect(slow.closedChannels).toBe(1);
    await expect(transport.send(REF, [1], { signal: controller.signal })).rejects.toMatchObject({ kind: 'Cancelled' });
  });

  it('cancels while the local docker save is stuck mid-stream', async () => {
    const server = new FakeServer('one');
    const { transport } = setup({ 1: server }, fakeDocker({ saveHangs: true }), { stallMs: 60_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const t0 = Date.now();
    expect(err((await transport.send(REF, [1], { signal: controller.signal })).get(1)).kind).toBe('Cancelled');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(server.closedChannels).toBe(1);
  });

  it('reports local problems for the whole call, and an unreachable server for itself', async () => {
    await expect(setup({}, fakeDocker({ missing: true })).transport.send(REF, [1])).rejects.toMatchObject({ kind: 'NotFound' });
    const { transport } = setup({ 1: new FakeServer('one') }, fakeDocker({ saveFails: true }));
    const results = await transport.send(REF, [1, 2]);
    expect(err(results.get(2))).toMatchObject({ kind: 'SshUnreachable' });
    expect(err(results.get(1))).toMatchObject({ kind: 'DockerUnavailable' });
    expect(err(results.get(1)).message).toMatch(/ECONNRESET/);
  });

  it('adapts to the deploy orchestrator’s ImageSender shape', async () => {
    const server = new FakeServer('one');
    const sender = asImageSender(setup({ 1: server }).transport);
    const lines: string[] = [];
    const results = await sender.send(REF, [1], { onProgress: (id, message) => lines.push(`${id}: ${message}`) });
    expect(results.get(1)?.ok).toBe(true);
    expect(lines[0]).toBe('1: comparing layers');
    expect(lines.at(-1)).toMatch(/^1: done: .* sent, 3 layer\(s\) sent, 0 already there$/);
    expect(await sender.localId(REF)).toBe(IMAGE_ID);
    expect(await sender.present(1, REF)).toBe(true);
  });
});

