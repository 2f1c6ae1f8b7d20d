import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { createRepacker } from '../../../electron/main/services/transport/image-archive';
import { chainIds, legacyLayerIndex } from '../../../electron/main/services/transport/image-layers';

/**
 * The metadata of a real `docker save` from dockerd 20.10 (a 4-layer image: base, WORKDIR, COPY, ENV, COPY):
 * directory names are v1 ids, each directory's json is byte for byte what dockerd wrote.
 */
const diffIds = [
  'sha256:29c92574dad830380f200d42b197954ed86e845eaaae071af235689f1d432938',
  'sha256:d05c30ee31c62880c8f89f6e520c8f5c2ea1637016d7852fe56a155ddcc0b157',
  'sha256:03cef67a4c6b104570f2e894aebe9840a505989b28c653b7e47d5d985e50786a',
  'sha256:22942c0459eb0e93397e3229445fd83d86cf33ba90116edee8650da9d8a51958',
];
const chains = chainIds(diffIds);
/** v1 ids of layers 0..3 (manifest.json's Layers order). */
const v1 = [
  '8cb860dd7ec787b9594583856f7edf93c0f7eacb89efa9a6fde8c52a73d28dde',
  'f24f08805b1cdb455ea04a16191ea67c20231229d844f8cbe981b24e1e497b0c',
  'b58f736bd3adfc5845bb0eb9dfe47684d11ae1829ddbd963cf8e0180f4176a6c',
  '62b1d1af18abe78a2ab73b7ba62c094b5d835b42d070d399b21a8c3d65d67a57',
];
const emptyConfig =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';
const lowerJson = (id: string, parent?: string) =>
  `{"id":"${id}",${parent ? `"parent":"${parent}",` : ''}"created":"1970-01-01T00:00:00Z","container_config":${emptyConfig},"os":"linux"}`;
const imageConfig = (cmd: string) =>
  `{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8","PYTHONDONTWRITEBYTECODE=1","PIP_BREAK_SYSTEM_PACKAGES=1","PIP_DISABLE_PIP_VERSION_CHECK=1","PIP_ROOT_USER_ACTION=ignore","X=1"],"Cmd":${cmd},"Image":"sha256:1934bc31b4e72adc9b53751f884d39a363dfec731f32cd6d5a44612454f988bc","Volumes":null,"WorkingDir":"/app","Entrypoint":null,"OnBuild":null,"Labels":{"berth.base.cachekey":"56d236bfad396bea","org.opencontainers.image.base.name":"debian:bookworm","org.opencontainers.image.title":"berth-base-python"}}`;
const topJson =
  `{"id":"${v1[3]}","parent":"${v1[2]}","created":"2026-11-26T05:01:37.97538222Z","container_config":${imageConfig('["/bin/sh","-c","#(nop) COPY file:2b43cd27056b19b2e1dfcacb230bbea9fca116b151d488d8d5442246c5d78591 in /app/b.py "]')},` +
  `"docker_version":"20.10.24+dfsg1","config":${imageConfig('["python3"]')},"architecture":"amd64","os":"linux"}`;
const layerJson = [lowerJson(v1[0]), lowerJson(v1[1], v1[0]), lowerJson(v1[2], v1[1]), topJson];
const configName = '528aa7cf1e7c5b17fd681f9901338b9ea3c4a5fd631425948685ee663a0642d1.json';

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  data?: Buffer;
  linkname?: string;
}

const layerData = (i: number, size = 3000 + i) => Buffer.alloc(size, 65 + i);

/** A legacy (Docker ≤ 24) save stream, entries sorted by name as dockerd writes them. */
function legacySave(options: { jsonFor?: (i: number) => string; layerSize?: number } = {}): Entry[] {
  const entries: Entry[] = [{ name: configName, data: Buffer.from('{"rootfs":{}}') }];
  const dirs = v1.map((id, i) => ({ id, i })).sort((a, b) => a.id.localeCompare(b.id));
  for (const { id, i } of dirs) {
    entries.push(
      { name: `${id}/`, type: 'directory' },
      { name: `${id}/VERSION`, data: Buffer.from('1.0') },
      { name: `${id}/json`, data: Buffer.from(options.jsonFor?.(i) ?? layerJson[i]) },
      { name: `${id}/layer.tar`, data: layerData(i, options.layerSize) },
    );
  }
  const manifest = [{ Config: configName, RepoTags: ['berth-exp/img:1'], Layers: v1.map((id) => `${id}/layer.tar`) }];
  entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest) + '\n') });
  entries.push({ name: 'repositories', data: Buffer.from(`{"berth-exp/img":{"1":"${v1[3]}"}}\n`) });
  return entries;
}

/** A Docker ≥ 25 save stream: OCI layout, layers as blobs named by diff id, plus manifest.json. */
function ociSave(layerDiffIds: string[]): Entry[] {
  const hex = (d: string) => d.replace('sha256:', '');
  const blobs = new Map<string, Buffer>();
  layerDiffIds.forEach((d, i) => blobs.set(hex(d), layerData(i)));
  const config = 'c'.repeat(64);
  blobs.set(config, Buffer.from('{"rootfs":{}}'));
  blobs.set('d'.repeat(64), Buffer.from('{"schemaVersion":2}'));
  const entries: Entry[] = [{ name: 'blobs/', type: 'directory' }, { name: 'blobs/sha256/', type: 'directory' }];
  for (const name of [...blobs.keys()].sort()) entries.push({ name: `blobs/sha256/${name}`, data: blobs.get(name) });
  entries.push(
    { name: 'index.json', data: Buffer.from('{"schemaVersion":2,"manifests":[]}') },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${config}`, Layers: layerDiffIds.map((d) => `blobs/sha256/${hex(d)}`) }])) },
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
  );
  return entries;
}

function toTar(entries: Entry[]): Readable {
  const pack = tar.pack();
  (async () => {
    for (const e of entries) {
      if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
      else pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname }, e.data ?? Buffer.alloc(0));
      await sleep(0);
    }
    pack.finalize();
  })();
  return Readable.from(pack as AsyncIterable<Buffer>);
}

async function readTar(source: AsyncIterable<unknown>, delayMs = 0): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const files = new Map<string, Buffer>();
  const done = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      files.set(entry.header.name, Buffer.concat(parts));
    }
  })();
  let count = 0;
  for await (const chunk of source) {
    if (delayMs && ++count % 32 === 0) await sleep(delayMs);
    if (!extract.write(chunk)) await new Promise<void>((r) => extract.once('drain', () => r()));
  }
  extract.end(undefined);
  await done;
  return files;
}

/** Layer tars in a re-packed save: legacy `<id>/layer.tar`, or OCI blobs named by one of the (test) diff ids. */
const layerFiles = (files: Map<string, Buffer>) => [...files.keys()].filter((n) => n.endsWith('layer.tar') || /^blobs\/sha256\/([123])\1{63}$/.test(n));

describe('legacyLayerIndex (v1 ids of a real dockerd 20.10 save)', () => {
  it('finds the layer of every directory by its json', () => {
    v1.forEach((id, i) => expect(legacyLayerIndex(id, layerJson[i], chains)).toBe(i));
  });

  it('returns undefined rather than guessing when nothing matches', () => {
    expect(legacyLayerIndex(v1[1], layerJson[1].replace('1970', '1971'), chains)).toBeUndefined();
    expect(legacyLayerIndex(v1[1], 'not json', chains)).toBeUndefined();
    expect(legacyLayerIndex(v1[1], layerJson[1], chainIds(diffIds.slice(0, 1)))).toBeUndefined();
  });
});

describe('createRepacker', () => {
  it('re-packs a legacy save once per plan, leaving out the layers each plan has, metadata byte for byte', async () => {
    const input = legacySave();
    const plans = [
      [true, true, true, true], // a fresh server
      [false, false, false, true], // has everything but the top layer
      [false, false, false, false],
    ];
    const repacker = createRepacker({ diffIds, chains }, plans);
    const [all, top, none] = await Promise.all([...repacker.outputs.map((o) => readTar(o)), repacker.run(toTar(input))]);
    expect(layerFiles(all as Map<string, Buffer>).sort()).toEqual(v1.map((id) => `${id}/layer.tar`).sort());
    expect(layerFiles(top as Map<string, Buffer>)).toEqual([`${v1[3]}/layer.tar`]);
    expect(layerFiles(none as Map<string, Buffer>)).toEqual([]);
    for (const files of [all, top, none] as Map<string, Buffer>[]) {
      for (const e of input) {
        if (e.name.endsWith('layer.tar') && !files.has(e.name)) continue;
        expect(files.get(e.name), e.name).toEqual(e.data ?? Buffer.alloc(0));
      }
    }
    expect(repacker.stats.map(({ layersSent, layersSkipped }) => [layersSent, layersSkipped])).toEqual([
      [4, 0],
      [1, 3],
      [0, 4],
    ]);
    expect(repacker.stats[1].bytesPacked).toBeLessThan(repacker.stats[0].bytesPacked);
  });

  it('sends a layer it cannot identify (unknown json, or layer before its json) instead of guessing', async () => {
    const input = legacySave({ jsonFor: (i) => (i === 1 ? layerJson[1].replace('1970', '1971') : layerJson[i]) });
    const repacker = createRepacker({ diffIds, chains }, [[false, false, false, true]]);
    const [files] = await Promise.all([readTar(repacker.outputs[0]), repacker.run(toTar(input))]);
    expect(layerFiles(files as Map<string, Buffer>).sort()).toEqual([`${v1[1]}/layer.tar`, `${v1[3]}/layer.tar`].sort());

    const reordered = legacySave().filter((e) => e.name !== `${v1[0]}/json`);
    const again = createRepacker({ diffIds, chains }, [[false, false, false, true]]);
    const [files2] = await Promise.all([readTar(again.outputs[0]), again.run(toTar(reordered))]);
    expect(layerFiles(files2 as Map<string, Buffer>)).toContain(`${v1[0]}/layer.tar`);
  });

  it('handles the Docker 25+ OCI layout by blob name, a blob shared by two layers included if either is missing', async () => {
    const ids = ['sha256:' + '1'.repeat(64), 'sha256:' + '2'.repeat(64), 'sha256:' + '1'.repeat(64), 'sha256:' + '3'.repeat(64)];
    const layerChains = chainIds(ids);
    const repacker = createRepacker({ diffIds: ids, chains: layerChains }, [
      [false, false, true, true],
      [false, true, false, false],
    ]);
    const [a, b] = await Promise.all([...repacker.outputs.map((o) => readTar(o)), repacker.run(toTar(ociSave(ids)))]);
    const blob = (d: string) => `blobs/sha256/${d.replace('sha256:', '')}`;
    expect(layerFiles(a as Map<string, Buffer>).sort()).toEqual([blob(ids[0]), blob(ids[3])]);
    expect(layerFiles(b as Map<string, Buffer>)).toEqual([blob(ids[1])]);
    for (const files of [a, b] as Map<string, Buffer>[]) {
      for (const name of ['index.json', 'manifest.json', 'oci-layout', `blobs/sha256/${'c'.repeat(64)}`, `blobs/sha256/${'d'.repeat(64)}`]) expect(files.has(name), name).toBe(true);
    }
  });

  it('keeps feeding the other plans when one is dropped, and paces itself to a slow reader', async () => {
    const input = legacySave({ layerSize: 2 << 20 });
    const repacker = createRepacker({ diffIds, chains }, [
      [true, true, true, true],
      [true, true, true, true],
    ]);
    let seen = 0;
    const dropped = (async () => {
      for await (const chunk of repacker.outputs[1]) {
        seen += (chunk as Buffer).length;
        if (seen > 1 << 20) repacker.drop(1, new Error('server gone'));
      }
    })().catch((err: Error) => err.message);
    const [files] = await Promise.all([readTar(repacker.outputs[0], 1), repacker.run(toTar(input))]);
    expect(await dropped).toBe('server gone');
    expect(layerFiles(files as Map<string, Buffer>)).toHaveLength(4);
    // (Buffer.equals: a deep toEqual of 2 MB takes seconds)
    expect((files as Map<string, Buffer>).get(`${v1[2]}/layer.tar`)?.equals(layerData(2, 2 << 20))).toBe(true);
  });

  it('fails (rather than waiting forever) when the save stream is destroyed without an error', async () => {
    const source = new PassThrough();
    const repacker = createRepacker({ diffIds, chains }, [[true, true, true, true]]);
    repacker.outputs[0].resume();
    repacker.outputs[0].on('error', () => {});
    const running = repacker.run(source);
    source.write(Buffer.alloc(512 * 3));
    setTimeout(() => source.destroy(), 20);
    await expect(running).rejects.toThrow(/stopped before its end/);
  });

  it('fails when the save stream is cut', async () => {
    const whole = toTar(legacySave());
    const chunks: Buffer[] = [];
    for await (const c of whole) chunks.push(c as Buffer);
    const cut = Buffer.concat(chunks).subarray(0, 6000);
    const repacker = createRepacker({ diffIds, chains }, [[true, true, true, true]]);
    repacker.outputs[0].resume();
    repacker.outputs[0].on('error', () => {});
    await expect(repacker.run(Readable.from([cut]))).rejects.toThrow();
  });
});

