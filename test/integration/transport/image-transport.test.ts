import { execFile as execFileCb } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ImageTransferProgress } from '../../../shared/transport-progress';
import { createConnectionPool } from '../../../electron/main/services/servers/pool';
import { createImageTransport, type ImageSendResult } from '../../../electron/main/services/transport/image-transport';
import { clientKeyOf, loadBed } from '../bed';

const execFile = promisify(execFileCb);
const bed = loadBed();
const key = clientKeyOf(bed);
const BASE = 'berth-base/python:3.11-bookworm';
const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const repo = 'berth-transport-test';
const tags = {
  base: `${repo}/base:${run}`,
  app1: `${repo}/app:${run}-1`,
  app2: `${repo}/app:${run}-2`,
  app2alias: `${repo}/app:${run}-2b`,
  big: `${repo}/app:${run}-big`,
};
/** A server id the pool cannot reach (nothing listens on port 2). */
const UNREACHABLE = 99;
const serverIds = bed.servers.map((_, i) => i + 1);

const pool = createConnectionPool((id) => {
  if (id === UNREACHABLE) return { target: { host: bed.servers[0].host, port: 2, username: 'root', privateKey: key }, fingerprint: bed.servers[0].hostKeyFingerprint };
  const s = bed.servers[id - 1];
  return { target: { host: s.host, port: s.port, username: s.user, privateKey: key }, fingerprint: s.hostKeyFingerprint };
});
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const transport = createImageTransport({
  docker,
  connection: (id) => pool.get(id, { attempts: 1 }),
  timeouts: { stallMs: 10_000, loadMs: 300_000 },
});

const sh = (command: string, timeout = 240_000) => execFile('sh', ['-c', command], { timeout, maxBuffer: 16 << 20 });
const onServer = (n: number, command: string) =>
  execFile('ssh', ['-F', bed.sshConfig, `tb${n}`, command], { timeout: 60_000 }).then(
    (r) => r.stdout.trim(),
    () => null,
  );
const remoteId = (n: number, ref: string) => onServer(n, `docker image inspect --format '{{.Id}}' ${ref}`);
const localId = async (ref: string) => (await docker.getImage(ref).inspect()).Id;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const okResults = (results: Map<number, ImageSendResult>) =>
  [...results].map(([id, r]) => {
    if (!r.ok) throw new Error(`server ${id} failed: ${r.error.kind}: ${r.error.message}`);
    return [id, r] as const;
  });

async function build(tag: string, dockerfile: string, files: Record<string, string | Buffer>) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-transport-ctx-'));
  try {
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    await execFile('docker', ['build', '-q', '-t', tag, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, timeout: 240_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A few KB of "model code": differs between versions, like a real project's top layer. */
const appCode = (version: number) => `# berth transport test app v${version} (${run})\n` + 'def predict(x):\n    return x\n'.repeat(200);

const figures: Record<string, unknown> = {};

describe('image transport over SSH to the test bed (real dockerd on both ends)', () => {
  beforeAll(async () => {
    // A private single-layer copy of the base (with a unique marker), so the first send really moves ~1 GB of
    // base layer and no other engineer's image on the servers is touched.
    const container = `${repo}-${run}`;
    await sh(`docker run --name ${container} ${BASE} sh -c 'echo ${run} > /etc/berth-transport-marker'`);
    try {
      await sh(`docker export ${container} | docker import --change 'CMD ["python3"]' - ${tags.base}`);
    } finally {
      await sh(`docker rm -f ${container}`).catch(() => undefined);
    }
    await build(tags.app1, `FROM ${tags.base}\nWORKDIR /app\nCOPY app.py /app/app.py\n`, { 'app.py': appCode(1) });
    await build(tags.app2, `FROM ${tags.base}\nWORKDIR /app\nCOPY app.py /app/app.py\n`, { 'app.py': appCode(2) });
    await sh(`docker tag ${tags.app2} ${tags.app2alias}`);
    // ~200 MB of incompressible data on top: a transfer slow enough to cut in the middle.
    await build(tags.big, `FROM ${tags.base}\nRUN head -c 200000000 /dev/urandom > /opt/blob\nCOPY app.py /app/app.py\n`, { 'app.py': appCode(3) });
  });

  // Other suites crash and restore servers too: start each test on a healthy bed (bounded wait).
  beforeEach(async () => {
    for (let i = 0; i < 24; i++) {
      if (await sh('bash test/bed/tb.sh status', 60_000).then(() => true, () => false)) return;
      await sleep(5000);
    }
    throw new Error('the test bed is not healthy (bash test/bed/tb.sh status)');
  });

  afterAll(async () => {
    pool.closeAll();
    const refs = [tags.app1, tags.app2, tags.app2alias, tags.big, tags.base].join(' ');
    await Promise.all(serverIds.map((n) => onServer(n, `docker rmi ${refs} >/dev/null 2>&1; true`)));
    await sh(`docker rmi ${refs}`).catch((err: Error & { stderr?: string }) => console.warn('[image transport] local cleanup:', err.stderr ?? err.message));
    console.log('[image transport figures]', JSON.stringify(figures, null, 2));
  });

  it('first send moves the base layer to every server in parallel, compressed, and the id verifies', async () => {
    for (const n of serverIds) expect(await remoteId(n, tags.base)).toBeNull();
    const events: ImageTransferProgress[] = [];
    const t0 = Date.now();
    const results = await transport.send(tags.app1, serverIds, { onProgress: (e) => events.push(e) });
    const seconds = (Date.now() - t0) / 1000;
    const id = await localId(tags.app1);
    const rows = okResults(results);
    // What the naive `docker save IMG | ssh tbN docker load` would send: the whole save stream, uncompressed.
    const naive = Number((await sh(`docker save ${tags.app1} | wc -c`)).stdout.trim());
    for (const [n, r] of rows) {
      expect(r.alreadyPresent).toBe(false);
      expect(r.layersSkipped).toBe(0);
      expect(r.layersSent).toBe(3); // base, WORKDIR, COPY
      expect(r.bytesSent).toBeGreaterThan(100e6); // hundreds of MB of Python and numpy, compressed
      expect(r.bytesSent).toBeLessThan(naive * 0.8);
      expect(await remoteId(n, tags.app1)).toBe(id);
    }
    const phases = new Set(events.filter((e) => e.serverId === 1).map((e) => e.phase));
    expect([...phases]).toEqual(['comparing', 'sending', 'loading', 'verifying', 'done']);
    const last = events.filter((e) => e.serverId === 1 && e.phase === 'sending').at(-1)!;
    expect(last.bytesTotal).toBeGreaterThan(900e6); // estimated from the layer sizes
    // The image runs there.
    expect(await onServer(1, `docker run --rm ${tags.app1} python3 -c 'import numpy, sys; print(open("/app/app.py").read().count("def"))'`)).toBe('200');
    figures.first = { seconds, naiveBytes: naive, perServer: Object.fromEntries(rows.map(([n, r]) => [`tb${n}`, { sent: mb(r.bytesSent), packed: mb(r.bytesPacked), ms: r.durationMs }])) };
  });

  it('a second version that differs only in the top layer sends only that layer (< 1% of the first)', async () => {
    const first = figures.first as { perServer: Record<string, { sent: string }> } | undefined;
    if (!first) throw new Error('needs the first send (the previous test) to have succeeded');
    const t0 = Date.now();
    const results = await transport.send(tags.app2, serverIds);
    const seconds = (Date.now() - t0) / 1000;
    const id = await localId(tags.app2);
    const perServer: Record<string, unknown> = {};
    for (const [n, r] of okResults(results)) {
      expect(r.layersSkipped).toBe(2);
      expect(r.layersSent).toBe(1);
      expect(r.bytesSent).toBeLessThan(0.01 * parseFloat(first.perServer[`tb${n}`].sent) * 1e6);
      expect(r.bytesSent).toBeGreaterThan(0);
      expect(await remoteId(n, tags.app2)).toBe(id);
      perServer[`tb${n}`] = { sentBytes: r.bytesSent, ms: r.durationMs };
    }
    figures.second = { seconds, perServer };
  });

  it('an image already there sends 0 bytes; the same id under a new name is only tagged; an unreachable server fails alone', async () => {
    const again = await transport.send(tags.app2, serverIds);
    for (const [, r] of okResults(again)) expect(r).toMatchObject({ alreadyPresent: true, bytesSent: 0, layersSent: 0 });

    const events: ImageTransferProgress[] = [];
    const results = await transport.send(tags.app2alias, [1, UNREACHABLE], { onProgress: (e) => events.push(e) });
    expect(results.get(1)).toMatchObject({ ok: true, alreadyPresent: true, bytesSent: 0 });
    expect(await remoteId(1, tags.app2alias)).toBe(await localId(tags.app2));
    const failed = results.get(UNREACHABLE)!;
    expect(failed.ok).toBe(false);
    if (!failed.ok) {
      expect(failed.error.kind).toBe('SshUnreachable');
      expect(failed.error.message).toMatch(/ECONNREFUSED/);
    }
    expect(events.find((e) => e.serverId === UNREACHABLE && e.phase === 'failed')?.error?.kind).toBe('SshUnreachable');
  });

  it('a server that crashes mid-transfer fails with a clear error, the others get the image, and it is left without a half image', async () => {
    const id = await localId(tags.big);
    let crashed: Promise<unknown> | undefined;
    try {
      const t0 = Date.now();
      const results = await transport.send(tags.big, serverIds, {
        onProgress: (e) => {
          if (e.serverId === 3 && e.phase === 'sending' && e.bytesSent > 30e6 && !crashed) crashed = sh('bash test/bed/tb.sh crash 3', 60_000);
        },
      });
      const seconds = (Date.now() - t0) / 1000;
      expect(crashed).toBeDefined();
      await crashed;
      const lost = results.get(3)!;
      expect(lost.ok).toBe(false);
      if (!lost.ok) {
        expect(lost.error.kind).toBe('SshUnreachable');
        expect(lost.error.message).toMatch(/10\.77\.0\.13/);
        expect(lost.bytesSent).toBeGreaterThan(30e6);
      }
      for (const n of [1, 2]) {
        const r = results.get(n)!;
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.layersSkipped).toBe(1);
        expect(await remoteId(n, tags.big)).toBe(id);
      }
      figures.crash = { seconds, tb3: !lost.ok && { error: lost.error.message, sent: mb(lost.bytesSent), ms: lost.durationMs } };
    } finally {
      await sh('bash test/bed/tb.sh restore 3', 120_000);
    }
    expect(await remoteId(3, tags.big)).toBeNull(); // docker load is atomic: nothing half-loaded got the tag
  });

  it('cancelling mid-transfer stops quickly and leaves nothing on the server', async () => {
    expect(await remoteId(3, tags.big)).toBeNull();
    const controller = new AbortController();
    let abortedAt = 0;
    const results = await transport.send(tags.big, [3], {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'sending' && e.bytesSent > 20e6 && !abortedAt) {
          abortedAt = Date.now();
          controller.abort();
        }
      },
    });
    const stopMs = Date.now() - abortedAt;
    expect(abortedAt).toBeGreaterThan(0);
    expect(stopMs).toBeLessThan(5000);
    const r = results.get(3)!;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe('Cancelled');
    for (let i = 0; i < 6; i++) {
      expect(await remoteId(3, tags.big)).toBeNull();
      await sleep(500);
    }
    figures.cancel = { stopMs };
  });
});
