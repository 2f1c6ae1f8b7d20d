import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildEvent } from '../shared/build';
import type { DeployEvent } from '../shared/deploy';
import type { BenchContext } from './context';
import { bytes, median, ms, ratio, run, type Row } from './lib';

/**
 * P7 (full build vs code-only rebuild of the sklearn fixture) and P1/P2 (first deploy and code-only redeploy to 3
 * servers: bytes per server and wall time, against `docker save | ssh docker load` + `docker run` server by
 * server, and against the floor: the changed bytes over one SSH stream + container start + readiness).
 */

const NAIVE_PORT = 9300;

/** Changes one code cell of the notebook (a comment): a "code-only" change. */
function editServedCell(notebook: string, marker: string): void {
  const nb = JSON.parse(readFileSync(notebook, 'utf8'));
  const cell = nb.cells.find((c: { cell_type: string; source: string | string[] }) => c.cell_type === 'code' && /def predict/.test([c.source].flat().join('')));
  cell.source = `${[cell.source].flat().join('')}\n# ${marker}\n`;
  writeFileSync(notebook, JSON.stringify(nb, null, 1));
}

async function build(ctx: BenchContext, dir: string): Promise<{ tag: string; buildId: number; buildMs: number; totalMs: number; cachedSteps: number; totalSteps: number }> {
  let result: Extract<BuildEvent, { type: 'result' }> | undefined;
  const started = Date.now();
  await ctx.berth.services.builds.run(
    { path: dir, options: { interpreter: '/usr/bin/python3' } },
    (e: BuildEvent) => void (e.type === 'result' && (result = e)),
    new AbortController().signal,
  );
  if (!result) throw new Error('the build gave no result');
  return { tag: result.imageTag, buildId: result.buildId, buildMs: result.durationMs, totalMs: Date.now() - started, cachedSteps: result.cachedSteps, totalSteps: result.totalSteps };
}

/** `docker save IMAGE | ssh SERVER docker load`, counting the bytes. */
function saveLoad(ctx: BenchContext, server: number, image: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn('ssh', ['-F', ctx.bed.sshConfig, ctx.bed.servers[server].name, 'docker load'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let count = 0;
    let err = '';
    save.stdout.on('data', (c: Buffer) => (count += c.length));
    save.stdout.pipe(load.stdin);
    load.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => (save.kill('SIGKILL'), load.kill('SIGKILL')), 900_000);
    load.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(count);
      else reject(new Error(`docker load on ${ctx.bed.servers[server].name} failed (${code}): ${err}`));
    });
  });
}

/** Polls /readyz of a port on a server through ssh (as Berth does, from inside the server). */
async function waitReadyPort(ctx: BenchContext, server: number, port: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = `timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && printf "GET /readyz HTTP/1.0\\r\\n\\r\\n" >&3 && head -1 <&3' 2>/dev/null || true`;
  while (Date.now() < deadline) {
    const out = await run('ssh', ['-F', ctx.bed.sshConfig, ctx.bed.servers[server].name, probe], { timeoutMs: 10_000 }).catch(() => '');
    if (/ 200 /.test(out)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`port ${port} on ${ctx.bed.servers[server].name} not ready within ${timeoutMs} ms`);
}

const onServer = (ctx: BenchContext, server: number, command: string, timeoutMs = 120_000) =>
  run('ssh', ['-F', ctx.bed.sshConfig, ctx.bed.servers[server].name, command], { timeoutMs });

/** The naive deploy: server by server, send the whole image, run it, wait until it answers. */
async function naiveDeploy(ctx: BenchContext, image: string, name: string) {
  const perServer: Array<{ server: string; bytes: number; sendMs: number; startMs: number; readyMs: number; totalMs: number }> = [];
  const started = Date.now();
  for (let i = 0; i < ctx.bed.servers.length; i++) {
    const t0 = Date.now();
    const sent = await saveLoad(ctx, i, image);
    const t1 = Date.now();
    await onServer(ctx, i, `docker rm -f ${name} >/dev/null 2>&1; docker run -d --name ${name} --network host -e PORT=${NAIVE_PORT} -e BERTH_HOST=127.0.0.1 ${image} >/dev/null`);
    const t2 = Date.now();
    await waitReadyPort(ctx, i, NAIVE_PORT);
    const t3 = Date.now();
    perServer.push({ server: ctx.bed.servers[i].name, bytes: sent, sendMs: t1 - t0, startMs: t2 - t1, readyMs: t3 - t2, totalMs: t3 - t0 });
    await onServer(ctx, i, `docker rm -f ${name} >/dev/null`);
  }
  return { wallMs: Date.now() - started, perServer };
}

async function berthDeploy(ctx: BenchContext, buildId: number) {
  const events: Array<{ at: number; e: DeployEvent }> = [];
  const started = Date.now();
  await ctx.berth.services.deploy.deployBuild({ buildId, group: 'prod', memoryMb: 512 }, (e) => void events.push({ at: Date.now(), e }), new AbortController().signal);
  const wallMs = Date.now() - started;
  const perServer = ctx.bed.servers.map((s) => {
    const transport = events.filter((x) => x.e.type === 'progress' && x.e.server === s.name && x.e.phase === 'transport');
    const sent = Math.max(0, ...transport.map((x) => (x.e as { bytesSent?: number }).bytesSent ?? 0));
    return { server: s.name, bytes: sent };
  });
  const phaseAt = (phase: string) => events.find((x) => x.e.type === 'progress' && x.e.phase === phase)?.at ?? NaN;
  return { wallMs, perServer, phases: { transportMs: phaseAt('start') - phaseAt('transport'), startToSwitchMs: phaseAt('switch') - phaseAt('start'), switchMs: phaseAt('done') - phaseAt('switch') } };
}

export async function benchBuildAndDeploy(ctx: BenchContext, rows: Row[], options: { deploys: boolean } = { deploys: true }): Promise<void> {
  // The project under a fresh name, so its images and Docker's cache for its layers are new.
  const name = `benchiris${Date.now().toString(36)}`;
  const parent = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const dir = join(parent, name);
  cpSync(join(ctx.repoRoot, 'test/fixtures/sklearn-iris'), dir, { recursive: true });
  ctx.cleanup.push(async () => void (await run('bash', ['-c', `docker rmi -f $(docker images -q --filter label=berth.project=${name}) >/dev/null 2>&1; true`]).catch(() => '')));

  // P7: a full build (a requirements text Docker has never seen, so every step from the dependency install on runs)
  // and code-only rebuilds (a comment in the served cell).
  const prepared = await ctx.berth.services.builds.prepare(dir, { interpreter: '/usr/bin/python3' });
  ctx.berth.services.builds.saveEdits(dir, { requirements: `${prepared.requirements.generated}# bench ${name}\n` });
  const full = await build(ctx, dir);
  const rebuilds: Awaited<ReturnType<typeof build>>[] = [];
  for (let i = 0; i < 3; i++) {
    editServedCell(join(dir, 'model.ipynb'), `bench edit ${i}`);
    rebuilds.push(await build(ctx, dir));
  }
  const rebuildMs = median(rebuilds.map((r) => r.buildMs));
  console.log(`[bench] full build ${ms(full.buildMs)} (${full.cachedSteps}/${full.totalSteps} cached); code-only rebuilds ${rebuilds.map((r) => ms(r.buildMs)).join(', ')}`);
  rows.push({
    id: 'P7',
    what: 'build: code-only rebuild (docker build step, median of 3) vs full build of the sklearn fixture',
    measured: ms(rebuildMs),
    baseline: ms(full.buildMs),
    ratio: ratio(full.buildMs, rebuildMs),
    goal: 'faster than a full build',
    met: rebuildMs < full.buildMs,
    note: `with analysis + smoke test: ${ms(median(rebuilds.map((r) => r.totalMs)))} vs ${ms(full.totalMs)}; the full build finds the base image locally and pip finds every pin already installed (no index reachable), so it is a lower bound on a real first build`,
    data: { full, rebuilds },
  });

  if (!options.deploys) return;
  const v1 = full;
  const v2 = rebuilds.at(-1)!;
  const imageOf = (tag: string) => tag;

  // Naive first deploy on empty servers, then wipe them so Berth's first deploy starts from nothing too.
  const naiveFirst = await naiveDeploy(ctx, imageOf(v1.tag), 'bench-naive');
  for (let i = 0; i < ctx.bed.servers.length; i++) await onServer(ctx, i, 'docker image prune -af >/dev/null');
  const berthFirst = await berthDeploy(ctx, v1.buildId);
  const berthRedeploy = await berthDeploy(ctx, v2.buildId);
  const naiveRedeploy = await naiveDeploy(ctx, imageOf(v2.tag), 'bench-naive');
  // Make the model public for the gateway benchmarks that follow.
  await ctx.berth.services.orchestrator.setPublic(name, true);
  ctx.sklearnModel = name;

  // The floor: the bytes Berth had to send for the redeploy, over one SSH stream, + container start + readiness.
  const changed = Math.max(...berthRedeploy.perServer.map((s) => s.bytes));
  const blob = Buffer.alloc(changed, 0x5a);
  const s0 = Date.now();
  await run('ssh', ['-F', ctx.bed.sshConfig, ctx.bed.servers[0].name, 'cat > /dev/null'], { input: blob, timeoutMs: 300_000 });
  const streamMs = Date.now() - s0;
  const startReady = median(naiveRedeploy.perServer.map((s) => s.startMs + s.readyMs));
  const floorMs = streamMs + startReady;

  const maxBytes = (d: { perServer: { bytes: number }[] }) => Math.max(...d.perServer.map((s) => s.bytes));
  console.log(`[bench] naive first ${JSON.stringify(naiveFirst)}\n[bench] berth first ${JSON.stringify(berthFirst)}\n[bench] berth redeploy ${JSON.stringify(berthRedeploy)}\n[bench] naive redeploy ${JSON.stringify(naiveRedeploy)}`);
  rows.push({
    id: 'P1',
    what: 'first deploy to 3 servers: bytes sent per server (max)',
    measured: bytes(maxBytes(berthFirst)),
    baseline: `${bytes(maxBytes(naiveFirst))} (docker save | ssh docker load)`,
    ratio: ratio(maxBytes(naiveFirst), maxBytes(berthFirst)),
    goal: 'fewer bytes than naive',
    met: maxBytes(berthFirst) < maxBytes(naiveFirst),
    data: { berthFirst, naiveFirst },
  });
  rows.push({
    id: 'P1',
    what: 'first deploy to 3 servers: wall time (send, start, ready, switch)',
    measured: ms(berthFirst.wallMs),
    baseline: `${ms(naiveFirst.wallMs)} (naive, server by server)`,
    ratio: ratio(naiveFirst.wallMs, berthFirst.wallMs),
    goal: 'faster than naive',
    met: berthFirst.wallMs < naiveFirst.wallMs,
  });
  rows.push({
    id: 'P2',
    what: 'code-only redeploy to 3 servers: bytes sent per server (max)',
    measured: bytes(maxBytes(berthRedeploy)),
    baseline: `${bytes(maxBytes(naiveRedeploy))} (naive)`,
    ratio: ratio(maxBytes(naiveRedeploy), maxBytes(berthRedeploy)),
    goal: '≥100× fewer',
    met: maxBytes(naiveRedeploy) / Math.max(1, maxBytes(berthRedeploy)) >= 100,
    data: { berthRedeploy, naiveRedeploy },
  });
  rows.push({
    id: 'P2',
    what: 'code-only redeploy to 3 servers: wall time',
    measured: ms(berthRedeploy.wallMs),
    baseline: `${ms(naiveRedeploy.wallMs)} (naive)`,
    ratio: ratio(naiveRedeploy.wallMs, berthRedeploy.wallMs),
    goal: '≥10× faster',
    met: naiveRedeploy.wallMs / berthRedeploy.wallMs >= 10,
    note: `Berth phases: transport ${ms(berthRedeploy.phases.transportMs)}, start→ready ${ms(berthRedeploy.phases.startToSwitchMs)}, switch ${ms(berthRedeploy.phases.switchMs)}`,
  });
  rows.push({
    id: 'P2',
    what: 'code-only redeploy vs the floor (changed bytes over one SSH stream + container start + readiness, one server)',
    measured: ms(berthRedeploy.wallMs),
    baseline: `${ms(floorMs)} floor (${bytes(changed)} in ${ms(streamMs)} + start/ready ${ms(startReady)})`,
    ratio: `${(berthRedeploy.wallMs / floorMs).toFixed(1)}× the floor`,
    goal: '—',
    met: null,
    data: { changed, streamMs, startReady, floorMs },
  });
}
