/**
 * `npm run bench:first-answer`: F1, a newcomer's first five minutes, timed: a fresh data folder with no server and the
 * base image present opens the bundled example, uses this computer, builds it (no build cache of its own), deploys
 * two replicas and gets the first answer with a key; no image of the model and no gateway image exist at the start
 * (the gateway is compiled from source then, with the local Go toolchain or the Go builder image). F0, the floor it is compared with in the same run: the same
 * image started with `docker run` and asked until it answers (what Docker alone takes to serve it, with no gateway,
 * key, group state or second replica).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBerth, type Berth } from '../electron/main/app';
import type { BuildEvent } from '../shared/build';
import { resetThisComputer } from '../test/integration/this-computer/support';
import { machine, ms, printTable, ratio, type Row } from './lib';

const MODEL = 'iris-classifier';
const SAMPLE = { inputs: [[5.1, 3.5, 1.4, 0.2]] };
const FLOOR_PORT = 9391;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const removeImages = (repository: string) => sh('sh', ['-c', `docker rmi -f $(docker images -q '${repository}') >/dev/null 2>&1; true`]);

async function valueOf<T>(answer: Promise<{ ok: true; value: unknown } | { ok: false; error: { message: string } }>): Promise<T> {
  const result = await answer;
  if (!result.ok) throw new Error(result.error.message);
  return result.value as T;
}

/** Asks until the endpoint answers 200, bounded: 300 tries 100 ms apart. */
async function firstAnswer(url: string, secret?: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
      body: JSON.stringify(SAMPLE),
      signal: AbortSignal.timeout(2000),
    }).catch(() => null);
    if (response?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered 200`);
}

async function newcomer(berth: Berth): Promise<{ phases: Record<string, number>; image: string }> {
  const phases: Record<string, number> = {};
  const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const value = await work();
    phases[phase] = Date.now() - started;
    return value;
  };
  const project = await timed('open the example', () => valueOf<{ path: string }>(berth.dispatcher.call('projects.openExample', {})));
  await timed('use this computer', () => valueOf(berth.dispatcher.call('servers.addLocal', {})));
  let result: Extract<BuildEvent, { type: 'result' }> | undefined;
  await timed('build + smoke test', () =>
    berth.services.builds.run({ path: project.path, options: { interpreter: '/usr/bin/python3' } }, (e) => void (e.type === 'result' && (result = e)), new AbortController().signal),
  );
  if (!result) throw new Error('the build gave no result');
  const built = result;
  await timed('deploy (2 replicas)', () => berth.services.deploy.deployBuild({ buildId: built.buildId, group: 'local' }, () => {}, new AbortController().signal));
  await timed('key + first answer', async () => {
    const key = await valueOf<{ secret: string }>(berth.dispatcher.call('access.createKey', { name: 'bench', scope: { kind: 'model', model: MODEL } }));
    await firstAnswer(`http://127.0.0.1:8700/${MODEL}/latest/predict`, key.secret);
  });
  return { phases, image: built.imageTag };
}

/** The same image served by Docker alone: `docker run` until /predict answers. */
async function floor(image: string): Promise<number> {
  const started = Date.now();
  sh('docker', ['run', '-d', '--rm', '--name', 'berth-bench-floor', '--network', 'host', '-e', `PORT=${FLOOR_PORT}`, '-e', 'BERTH_HOST=127.0.0.1', image]);
  try {
    await firstAnswer(`http://127.0.0.1:${FLOOR_PORT}/predict`);
    return Date.now() - started;
  } finally {
    sh('docker', ['rm', '-f', 'berth-bench-floor']);
  }
}

async function main() {
  process.env.BERTH_SERVER_AGENT ??= 'on';
  resetThisComputer();
  // As on a newcomer's machine: no image of the model, and no gateway image yet (compiled at the first deploy).
  removeImages(`berth/${MODEL}`);
  removeImages('berth/gateway');
  const home = mkdtempSync(join(tmpdir(), 'berth-first-answer-'));
  const berth = createBerth({ home, mode: 'cli', version: 'bench' });
  try {
    await berth.ready;
    // Nothing can be pulled here: the local Python base image, and the gateway compiled with the local Go image.
    berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm', baseImage: 'berth-base/python:{python}-bookworm' });
    const started = Date.now();
    const { phases, image } = await newcomer(berth);
    const total = Date.now() - started;
    const floorMs = await floor(image);
    const berthStart = phases['deploy (2 replicas)'] + phases['key + first answer'];
    const rows: Row[] = [
      ...Object.entries(phases).map(([phase, took], i) => ({ id: `F1.${i + 1}`, what: phase, measured: ms(took), baseline: '', ratio: '', goal: '', met: null })),
      { id: 'F1', what: 'fresh data folder → first answer (base image present)', measured: ms(total), baseline: '', ratio: '', goal: 'under 5 min', met: total < 300_000, data: { totalMs: total, ...phases } },
      { id: 'F0', what: 'Docker alone: docker run of the same image → first answer', measured: ms(floorMs), baseline: `F1 deploy + key + answer ${ms(berthStart)}`, ratio: ratio(berthStart, floorMs), goal: '', met: null, data: { floorMs, berthStartMs: berthStart } },
    ];
    console.log(printTable(rows));
    const file = join(__dirname, 'results', `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-first-answer.json`);
    writeFileSync(file, JSON.stringify({ machine: machine(), rows }, null, 1));
    console.log(`wrote ${file}`);
  } finally {
    berth.close();
    resetThisComputer();
    removeImages(`berth/${MODEL}`);
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
