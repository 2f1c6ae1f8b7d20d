/**
 * `npm run bench:remote-build`: R1/R2, a code-only change of the sklearn fixture taken to a 3-server group, with
 * the laptop's link to the bed shaped to 50 Mbit/s (tc on both ends of the host↔switch link; the servers' own links
 * stay fast): local build + layer-aware transfer from the laptop, against a remote build on server 1 + a deploy whose
 * other servers get the image from server 1. Time, and bytes the laptop sent (its link's tx counter).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBerth, type Berth } from '../electron/main/app';
import type { BuildEvent, BuildRunInput } from '../shared/build';
import { bedDir, loadBed, registerBed } from '../test/integration/bed';
import { bytes, ms, printTable, ratio, type Row } from './lib';

process.env.BERTH_SERVER_AGENT ??= 'off';
const RATE = process.env.BENCH_LAPTOP_RATE ?? '50mbit';
const GROUP = 'rbench';
const bed = loadBed();
const bedName = /^NAME=(\w+)$/m.exec(readFileSync(join(bedDir, 'state'), 'utf8'))?.[1] ?? 'tb';
const hostLink = `${bedName}-h`;
const fixture = join(__dirname, '..', 'test', 'fixtures', 'sklearn-iris');

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const onServer = (i: number, command: string) => sh('ssh', ['-F', bed.sshConfig, bed.servers[i].name, command]);
const laptopTx = () => Number(readFileSync(`/sys/class/net/${hostLink}/statistics/tx_bytes`, 'utf8'));

/** Both ends of the laptop↔switch link: the laptop's sending side and the switch's side towards the laptop. */
function shapeLaptopLink(): () => void {
  const tbf = ['root', 'tbf', 'rate', RATE, 'burst', '64kb', 'latency', '100ms'];
  sh('tc', ['qdisc', 'replace', 'dev', hostLink, ...tbf]);
  sh('ip', ['netns', 'exec', `${bedName}-sw`, 'tc', 'qdisc', 'replace', 'dev', 'up0', ...tbf]);
  return () => {
    for (const args of [['tc', 'qdisc', 'del', 'dev', hostLink, 'root'], ['ip', 'netns', 'exec', `${bedName}-sw`, 'tc', 'qdisc', 'del', 'dev', 'up0', 'root']]) {
      try {
        sh(args[0], args.slice(1));
      } catch {
        // already gone
      }
    }
  };
}

/** A copy of the fixture under its own name, with a code-only change (a comment in the served cell). */
function projectCopy(name: string, marker: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'berth-rbench-')), name);
  cpSync(fixture, dir, { recursive: true });
  const notebook = join(dir, 'model.ipynb');
  const nb = JSON.parse(readFileSync(notebook, 'utf8'));
  const cell = nb.cells.find((c: { cell_type: string; source: string | string[] }) => c.cell_type === 'code' && /def predict/.test([c.source].flat().join('')));
  cell.source = `${[cell.source].flat().join('')}\n# ${marker}\n`;
  writeFileSync(notebook, JSON.stringify(nb, null, 1));
  return dir;
}

interface Measured {
  buildMs: number;
  deployMs: number;
  laptopBytes: number;
  imageBytes: number;
}

async function buildAndDeploy(berth: Berth, dir: string, on?: BuildRunInput['on']): Promise<Measured> {
  let result: Extract<BuildEvent, { type: 'result' }> | undefined;
  const before = laptopTx();
  const started = Date.now();
  await berth.services.builds.run({ path: dir, options: { interpreter: '/usr/bin/python3' }, ...(on ? { on } : {}) }, (e) => void (e.type === 'result' && (result = e)), new AbortController().signal);
  const built = Date.now();
  if (!result) throw new Error('the build gave no result');
  await berth.services.deploy.deployBuild({ buildId: result.buildId, group: GROUP }, () => {}, new AbortController().signal);
  return { buildMs: built - started, deployMs: Date.now() - built, laptopBytes: laptopTx() - before, imageBytes: result.sizeBytes };
}

function clean(name: string): void {
  for (let i = 0; i < bed.servers.length; i++) {
    onServer(i, `docker rm -f $(docker ps -aq --filter label=berth.model=${name}) >/dev/null 2>&1; docker rmi -f $(docker images -q 'berth/${name}') >/dev/null 2>&1; rm -rf /var/lib/berth/lock/${name}; true`);
  }
  try {
    sh('sh', ['-c', `docker rmi -f $(docker images -q 'berth/${name}') >/dev/null 2>&1; true`]);
  } catch {
    // nothing to remove
  }
}

async function main() {
  const berth = createBerth({ home: mkdtempSync(join(tmpdir(), 'berth-rbench-home-')), mode: 'cli', version: 'bench' });
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm', baseImage: 'berth-base/python:{python}-bookworm' });
  const ids = await registerBed(berth, bed, { group: { name: GROUP, replicas: 1 } });
  const names = { warm: 'rbwarm', local: 'rblocal', remote: 'rbremote' };
  const rows: Row[] = [];
  let unshape = () => {};
  try {
    // Unshaped warm-up: the gateways installed, the build caches (local and server 1) warm, as for a code change.
    await buildAndDeploy(berth, projectCopy(names.warm, 'warm local'));
    await buildAndDeploy(berth, projectCopy(names.warm, 'warm remote'), { serverId: ids[0] });
    clean(names.warm);

    unshape = shapeLaptopLink();
    const remote = await buildAndDeploy(berth, projectCopy(names.remote, `remote ${Date.now()}`), { serverId: ids[0] });
    const local = await buildAndDeploy(berth, projectCopy(names.local, `local ${Date.now()}`));
    unshape();

    const total = (m: Measured) => m.buildMs + m.deployMs;
    const describe = (m: Measured) => `build ${ms(m.buildMs)} + deploy ${ms(m.deployMs)} = ${ms(total(m))}`;
    rows.push(
      { id: 'R1', what: `sklearn: local build + transfer to 3 servers (laptop link ${RATE})`, measured: describe(local), baseline: '', ratio: '', goal: '', met: null, data: { ...local } },
      { id: 'R2', what: `sklearn: remote build on server 1 + deploy to 3 (laptop link ${RATE})`, measured: describe(remote), baseline: `R1 ${ms(total(local))}`, ratio: ratio(total(local), total(remote)), goal: '', met: null, data: { ...remote } },
      { id: 'R1b', what: 'bytes the laptop sent: local build + transfer', measured: bytes(local.laptopBytes), baseline: `image ${bytes(local.imageBytes)}`, ratio: '', goal: '', met: null },
      { id: 'R2b', what: 'bytes the laptop sent: remote build + deploy', measured: bytes(remote.laptopBytes), baseline: `R1b ${bytes(local.laptopBytes)}`, ratio: ratio(local.laptopBytes, remote.laptopBytes), goal: 'the build context, not the image', met: remote.laptopBytes < remote.imageBytes / 100 },
    );
    console.log(printTable(rows));
    console.log(JSON.stringify(rows.map((r) => ({ id: r.id, ...r.data })), null, 1));
  } finally {
    unshape();
    for (const name of Object.values(names)) clean(name);
    berth.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
