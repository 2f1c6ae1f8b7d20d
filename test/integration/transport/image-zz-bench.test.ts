// TEMPORARY benchmark (not committed): naive vs shared vs perServer.
import { execFile as execFileCb } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, it } from 'vitest';
import { createConnectionPool } from '../../../electron/main/services/servers/pool';
import { createImageTransport } from '../../../electron/main/services/transport/image-transport';
import { clientKeyOf, loadBed } from '../bed';

const execFile = promisify(execFileCb);
const bed = loadBed();
const key = clientKeyOf(bed);
const run = `b${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const base = `berth-transport-bench/base:${run}`;
const app = (v: number) => `berth-transport-bench/app:${run}-${v}`;
const sh = (c: string) => execFile('sh', ['-c', c], { timeout: 900_000, maxBuffer: 16 << 20 });
const ids = [1, 2, 3];
const pool = createConnectionPool((id) => {
  const s = bed.servers[id - 1];
  return { target: { host: s.host, port: s.port, username: s.user, privateKey: key }, fingerprint: s.hostKeyFingerprint };
});
const transport = createImageTransport({ docker: new Docker({ socketPath: '/var/run/docker.sock' }), connection: (id) => pool.get(id) });
const clean = () => Promise.all(ids.map((n) => sh(`ssh -F ${bed.sshConfig} tb${n} 'docker rmi ${app(1)} ${app(2)} ${base} >/dev/null 2>&1; true'`)));
const load = async () => (await sh('cat /proc/loadavg')).stdout.split(' ')[0];

beforeAll(async () => {
  await sh(`docker run --name ${run} berth-base/python:3.11-bookworm sh -c 'echo ${run} > /etc/marker' && docker export ${run} | docker import - ${base}; docker rm -f ${run}`);
  for (const v of [1, 2]) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${base}\nCOPY app.py /app/app.py\n`);
    writeFileSync(join(dir, 'app.py'), `# v${v}\n` + 'x = 1\n'.repeat(500));
    await execFile('docker', ['build', '-q', '-t', app(v), dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  }
  await clean();
}, 600_000);
afterAll(async () => {
  pool.closeAll();
  await clean();
  await sh(`docker rmi ${app(1)} ${app(2)} ${base}`);
}, 600_000);

const time = async (label: string, f: () => Promise<unknown>) => {
  const l0 = await load();
  const t0 = Date.now();
  const r = await f();
  console.log(`[bench] ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s (load ${l0})`, r ?? '');
};

it('bench', async () => {
  await time('docker save alone (to /dev/null)', () => sh(`docker save ${app(1)} | wc -c`).then((r) => r.stdout.trim() + ' bytes'));
  await time('naive x3: docker save | ssh tbN docker load, in parallel', () => Promise.all(ids.map((n) => sh(`docker save ${app(1)} | ssh -F ${bed.sshConfig} tb${n} docker load`))));
  await time('naive x3, 2nd version (top layer differs)', () => Promise.all(ids.map((n) => sh(`docker save ${app(2)} | ssh -F ${bed.sshConfig} tb${n} docker load`))));
  await clean();
  const summary = (m: Map<number, any>) => [...m].map(([id, r]) => `tb${id}:${r.ok ? (r.bytesSent / 1e6).toFixed(3) + 'MB' : r.error.message}`).join(' ');
  await time('berth shared x3, first', async () => summary(await transport.send(app(1), ids)));
  await time('berth shared x3, 2nd version', async () => summary(await transport.send(app(2), ids)));
  await clean();
  await time('berth perServer x3, first', async () => summary(await transport.send(app(1), ids, { saveMode: 'perServer' })));
  await time('berth perServer x3, 2nd version', async () => summary(await transport.send(app(2), ids, { saveMode: 'perServer' })));
  await clean();
  await time('berth shared x1 (tb1), first', async () => summary(await transport.send(app(1), [1])));
  await time('naive x1 (tb1), first', () => sh(`docker save ${app(1)} | ssh -F ${bed.sshConfig} tb1 docker load`));
}, 3_600_000);
