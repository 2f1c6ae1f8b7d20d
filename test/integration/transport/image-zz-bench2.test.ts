import { it } from 'vitest';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import Docker from 'dockerode';
import { connectSsh } from '../../../electron/main/services/transport/ssh';
import { createRepacker } from '../../../electron/main/services/transport/image-archive';
import { chainIds } from '../../../electron/main/services/transport/image-layers';
import { clientKeyOf, loadBed } from '../bed';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const IMG = 'berth-base/python:3.11-bookworm';
const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });
const t = async (label: string, f: () => Promise<unknown>) => { const t0 = Date.now(); const r = await f(); console.log(`[b2] ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`, r ?? ''); };

it('components', async () => {
  const bed = loadBed();
  await t('docker save -> devnull', async () => pipeline((await docker.getImage(IMG).get()) as unknown as Readable, sink()));
  await t('docker save -> gzip1 -> devnull', async () => { let n = 0; const g = createGzip({ level: 1, chunkSize: 65536 }); g.on('data', (c) => (n += c.length)); await pipeline((await docker.getImage(IMG).get()) as unknown as Readable, g, sink()); return n; });
  const info = await docker.getImage(IMG).inspect();
  await t('docker save -> repack (1 plan) -> devnull', async () => { const r = createRepacker({ diffIds: info.RootFS.Layers!, chains: chainIds(info.RootFS.Layers!) }, [[true]]); await Promise.all([r.run((await docker.getImage(IMG).get()) as unknown as Readable), pipeline(r.outputs[0], sink())]); });
  const s = bed.servers[0];
  const ssh = await connectSsh({ host: s.host, port: s.port, username: s.user, privateKey: clientKeyOf(bed) }, { expectedFingerprint: s.hostKeyFingerprint });
  await t('ssh2 channel 500 MB -> cat >/dev/null', async () => {
    const ch = await ssh.stream('cat > /dev/null');
    const buf = Buffer.alloc(1 << 20, 7);
    for (let i = 0; i < 500; i++) if (!ch.write(buf)) await new Promise((r) => ch.once('drain', r));
    ch.end();
    await new Promise((r) => ch.on('close', r));
  });
  ssh.close();
}, 600_000);
