/**
 * G1: how long a fresh data folder (a new teammate, a CI runner) takes to attach to a group holding 20 models × 5
 * versions on 3 servers, against reading the same state file with one plain `ssh cat` per server (and with `cat` over
 * Berth's own SSH client, new connections: the same transport without parsing, verifying or caching).
 *
 * Part of `npm run bench` (BENCH_ONLY=G1), or alone against whichever bed is up (the bench's own, else the shared
 * one): `node --require tsx/cjs bench/attach.ts`. Nothing runs in a container: the state is seeded with one
 * `groups.change` (versions retired or stopped, placements naming ports nothing serves), so no gateway routes it.
 */
import './raw-hook.cjs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBerth, type Berth } from '../electron/main/app';
import type { GroupState, StateModel, StateVersion } from '../shared/group-state';
import { addServerInput, type Bed } from '../test/integration/bed';
import { machine, median, ms, printTable, ratio, run, section, type Row } from './lib';

const GROUP = 'attachbench';
const MODELS = 20;
const VERSIONS = 5;
const RUNS = 5;
const STATE_PATH = `/var/lib/berth/groups/${GROUP}/state.json`;
const modelName = (i: number) => `ab-m${String(i + 1).padStart(2, '0')}`;

function newBerth(label: string): { berth: Berth; home: string } {
  const home = mkdtempSync(join(tmpdir(), `berth-bench-attach-${label}-`));
  const berth = createBerth({ home, mode: 'cli', version: 'bench', background: false });
  return { berth, home };
}

async function addServers(berth: Berth, bed: Bed): Promise<number[]> {
  const ids: number[] = [];
  for (const server of bed.servers) ids.push((await berth.services.servers.add(addServerInput(bed, server))).id);
  return ids;
}

/** 20 models × 5 versions: v1–v3 retired (no placements), v4–v5 stopped with one replica on every server. */
function seed(state: GroupState): void {
  const uids = state.servers.map((s) => s.uid);
  for (let m = 0; m < MODELS; m++) {
    const name = modelName(m);
    const versions: StateVersion[] = [];
    for (let n = 1; n <= VERSIONS; n++) {
      const kept = n > VERSIONS - 2;
      versions.push({
        number: n,
        imageRef: `berth/${name}:build-${n}`,
        imageId: `sha256:${(m * 16 + n).toString(16).padStart(64, '0')}`,
        notebookHash: (m * 1000 + n).toString(16).padStart(64, 'a'),
        dockerfile: `FROM berth-base/python:3.11-bookworm\nWORKDIR /app\nCOPY . /app\nCMD ["python3", "berth_serve.py"]\n`,
        requirements: 'scikit-learn==1.5.2\nnumpy==2.1.3\npandas==2.2.3\n',
        createdBy: 'bench',
        createdAt: new Date(Date.UTC(2026, 10, 1, m, n)).toISOString(),
        state: kept ? 'stopped' : 'retired',
        resources: { replicas: 1, memoryMb: 512, cpus: 1 },
        placements: kept ? Object.fromEntries(uids.map((uid) => [uid, [{ name: `berth-${name}-v${n}-r1`, port: 9600 + m * VERSIONS + n }]])) : {},
      });
    }
    const model: StateModel = { public: false, keepVersions: 5, createdBy: 'bench', createdAt: versions[0].createdAt, versions, aliases: { latest: VERSIONS, stable: VERSIONS - 1 } };
    state.models[name] = model;
  }
}

async function removeGroupFromServers(bed: Bed): Promise<void> {
  await Promise.all(bed.servers.map((s) => run('ssh', ['-F', bed.sshConfig, s.name, `rm -rf /var/lib/berth/groups/${GROUP}`], { timeoutMs: 30_000 }).catch(() => undefined)));
}

/** One plain `ssh cat` of the state file per server, all three at once (as attach reads its servers). */
async function catEverywhere(bed: Bed): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const outs = await Promise.all(bed.servers.map((s) => run('ssh', ['-F', bed.sshConfig, s.name, `cat ${STATE_PATH}`], { timeoutMs: 30_000 })));
  const took = performance.now() - started;
  if (outs.some((o) => !o.includes(`"group":"${GROUP}"`))) throw new Error(`a server did not return the state file of ${GROUP}`);
  return { ms: took, bytes: outs[0].length };
}

/** Checks that an attached data folder really holds the whole group (so a fast wrong answer is never reported). */
function checkAttached(berth: Berth, revision: number): void {
  const group = berth.services.registry.group(GROUP);
  if (group.revision !== revision) throw new Error(`attached at revision ${group.revision}, the servers hold ${revision}`);
  const models = berth.services.deploy.models().filter((m) => m.startsWith('ab-m'));
  if (models.length !== MODELS) throw new Error(`attached ${models.length} of ${MODELS} models`);
  for (const name of models) {
    const versions = berth.services.deployStore.versions(berth.services.deployStore.model(name).id);
    if (versions.length !== VERSIONS) throw new Error(`${name}: attached ${versions.length} of ${VERSIONS} versions`);
  }
}

export async function benchAttach(bed: Bed, rows: Row[]): Promise<void> {
  const berths: Berth[] = [];
  const homes: string[] = [];
  const open = (label: string) => {
    const made = newBerth(label);
    berths.push(made.berth);
    homes.push(made.home);
    return made.berth;
  };
  try {
    // The group, published by one data folder in a single revision.
    const seeder = open('seed');
    await seeder.ready;
    const ids = await addServers(seeder, bed);
    const local = seeder.services.registry.createGroup(GROUP, 1);
    seeder.services.registry.updateGroup(local.id, { serverIds: ids });
    const commit = await seeder.services.groups.change(GROUP, `bench: ${MODELS} models × ${VERSIONS} versions`, seed);
    if (!commit.servers.every((s) => s.ok)) throw new Error(`seeding failed on ${commit.servers.filter((s) => !s.ok).map((s) => `${s.server}: ${s.error}`).join('; ')}`);
    const revision = commit.file.revision.revision;
    const fileBytes = JSON.stringify(commit.file).length + 1;
    console.log(`[G1] seeded ${GROUP} revision ${revision}: ${MODELS} models × ${VERSIONS} versions, state file ${(fileBytes / 1024).toFixed(1)} KiB`);

    const baseline: number[] = [];
    const sameTransport: number[] = [];
    const cold: number[] = [];
    const warm: number[] = [];
    const polls: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Alternated, so a load spike on the shared machine hits both sides alike.
      baseline.push((await catEverywhere(bed)).ms);

      // The same read over Berth's own SSH client (new connections), without parsing, checking or caching.
      const reader = open(`cat${i}`);
      await reader.ready;
      const readerIds = await addServers(reader, bed);
      const read = performance.now();
      await Promise.all(readerIds.map(async (id) => (await reader.services.servers.connection(id)).run(`cat ${STATE_PATH}`, { timeoutMs: 30_000 })));
      sameTransport.push(performance.now() - read);
      reader.close();

      const fresh = open(`fresh${i}`);
      await fresh.ready;
      await addServers(fresh, bed);
      const started = performance.now();
      const report = await fresh.services.groups.attach();
      cold.push(performance.now() - started);
      if (report.problems.length) throw new Error(`attach reported: ${report.problems.join('; ')}`);
      checkAttached(fresh, revision);

      const again = performance.now();
      await fresh.services.groups.attach();
      warm.push(performance.now() - again);

      const polled = performance.now();
      await fresh.services.groups.poll();
      polls.push(performance.now() - polled);
      fresh.close();
    }
    const base = median(baseline);
    const data = { revision, models: MODELS, versions: VERSIONS, stateFileBytes: fileBytes, runs: RUNS, attachMs: cold, attachWarmMs: warm, pollMs: polls, sshCatMs: baseline, ssh2CatMs: sameTransport };
    const baselineText = `${ms(base)} (one \`ssh cat\` of the ${(fileBytes / 1024).toFixed(0)} KiB state file per server, 3 at once)`;
    rows.push({
      id: 'G1',
      what: `fresh data folder attaches to a group of ${MODELS} models × ${VERSIONS} versions on 3 servers (median of ${RUNS}; new SSH connections, read, verify, cache in SQLite)`,
      measured: ms(median(cold)),
      baseline: `${baselineText}; \`cat\` over Berth's own SSH client, new connections: ${ms(median(sameTransport))}`,
      ratio: `${ratio(median(cold), base)} ssh cat`,
      goal: '—',
      met: null,
      data,
    });
    rows.push({
      id: 'G1',
      what: 'the same attach again, connections open (median of 5)',
      measured: ms(median(warm)),
      baseline: baselineText,
      ratio: `${ratio(median(warm), base)} ssh cat`,
      goal: '—',
      met: null,
    });
    rows.push({
      id: 'G1',
      what: 'poll for another Berth’s change, nothing changed (head of one state file; median of 5)',
      measured: ms(median(polls)),
      baseline: '',
      ratio: '',
      goal: '—',
      met: null,
    });
  } finally {
    for (const berth of berths) {
      try {
        berth.close();
      } catch {
        // already closed
      }
    }
    await removeGroupFromServers(bed);
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  }
}

/** The bench's own bed when it is up, else the shared one (TB wins). */
function findBed(): { dir: string; bed: Bed } {
  const candidates = process.env.TB ? [process.env.TB] : ['/tmp/berth-bb', '/tmp/berth-tb'];
  for (const dir of candidates) {
    const file = join(dir, 'bed.json');
    if (existsSync(file)) return { dir, bed: JSON.parse(readFileSync(file, 'utf8')) as Bed };
  }
  throw new Error(`No test bed at ${candidates.join(' or ')}: run \`npm run bed:up\` (as root) first`);
}

async function main() {
  const started = new Date();
  const { dir, bed } = findBed();
  console.log(`[G1] bed ${dir}`);
  const rows: Row[] = [];
  await section('G1', 10 * 60_000, rows, () => benchAttach(bed, rows));
  const info = machine();
  const table = printTable(rows);
  console.log(`\nBerth attach benchmark, ${started.toISOString()} — ${info.cores} cores (${info.cpuModel}), load ${info.load}, Node ${info.node}, bed ${dir}\n`);
  console.log(table);
  const out = join(__dirname, 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `${started.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')}-attach.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt: started.toISOString(), finishedAt: new Date().toISOString(), machine: info, bed: dir, only: ['G1'], rows, table }, null, 1)}\n`);
  console.log(`\nwritten: ${file}`);
  if (rows.some((r) => r.measured === '—')) throw new Error('G1 was not measured');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
