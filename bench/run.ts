/**
 * `npm run bench`: Berth's benchmarks on a test bed of their own (brought up and down by test/bed/with-bed.sh).
 * Prints a table and writes bench/results/<date>.json. BENCH_ONLY=P3,P4 runs some sections only (G1: attach, see attach.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berthOnBed, buildModelImage, cleanModel, loadBed, removeLocalImages, repoRoot } from '../test/faults/support';
import type { BenchContext } from './context';
import { benchAttach } from './attach';
import { benchBuildAndDeploy } from './deploy';
import { benchGateway } from './gateway';
import { machine, printTable, section, type Row } from './lib';
import { benchFailover, benchLogs, benchSwitch } from './runtime';

async function main() {
  const started = new Date();
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim().toUpperCase());
  const wanted = (id: string) => !only || only.includes(id);
  const bed = loadBed();
  const tbDir = process.env.TB ?? '/tmp/berth-tb';
  const bedName = /^NAME=(\w+)$/m.exec(readFileSync(join(tbDir, 'state'), 'utf8'))?.[1] ?? 'tb';
  if (bedName === 'tb' && !process.env.BENCH_SHARED_BED) throw new Error('refusing to benchmark on the shared bed: run `npm run bench` (it brings up a bed of its own)');
  const { berth, home, serverIds, groupId } = await berthOnBed(bed, { replicas: 1 });
  const ctx: BenchContext = { repoRoot, bed, bedName, berth, home, serverIds, groupId, cleanup: [] };
  const rows: Row[] = [];
  const trivial = 'benchtrivial';
  const images = { one: `berth-bench/${trivial}:one`, two: `berth-bench/${trivial}:two` };
  try {
    // First, while the servers hold no other group: a fresh data folder attaching to a group of 20 models × 5 versions.
    if (wanted('G1')) await section('G1', 10 * 60_000, rows, () => benchAttach(bed, rows));
    if (wanted('P1') || wanted('P2') || wanted('P7')) {
      await section('P7+P1+P2', 40 * 60_000, rows, () => benchBuildAndDeploy(ctx, rows, { deploys: wanted('P1') || wanted('P2') }));
    }
    if (['P3', 'P4', 'P5', 'P6'].some(wanted)) await section('trivial model', 10 * 60_000, rows, async () => {
      buildModelImage(images.one, { label: 'one' });
      buildModelImage(images.two, { label: 'two' });
      cleanModel(bed, trivial);
      await berth.services.orchestrator.deploy({ model: trivial, imageRef: images.one, group: 'prod', replicas: 1, memoryMb: 256, readyTimeoutMs: 120_000 });
      await berth.services.orchestrator.setPublic(trivial, true);
    });
    if (wanted('P3')) await section('P3', 15 * 60_000, rows, () => benchGateway(ctx, rows, trivial));
    if (wanted('P4')) await section('P4', 8 * 60_000, rows, () => benchSwitch(ctx, rows, trivial, images.two));
    if (wanted('P5')) await section('P5', 8 * 60_000, rows, () => benchFailover(ctx, rows, trivial));
    if (wanted('P6')) await section('P6', 15 * 60_000, rows, () => benchLogs(ctx, rows, trivial, images.one));
  } finally {
    for (const undo of ctx.cleanup.reverse()) await undo().catch(() => undefined);
    cleanModel(bed, trivial);
    if (ctx.sklearnModel) cleanModel(bed, ctx.sklearnModel);
    removeLocalImages(Object.values(images));
    berth.close();
  }

  const info = machine();
  const table = printTable(rows);
  console.log(`\nBerth benchmarks, ${started.toISOString()} — ${info.cores} cores (${info.cpuModel}), ${info.memoryGiB} GiB, Linux ${info.kernel}, Node ${info.node}, Docker ${info.docker}\n`);
  console.log(table);
  for (const r of rows.filter((x) => x.note)) console.log(`- ${r.id} ${r.what}: ${r.note}`);
  const dir = join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')}.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt: started.toISOString(), finishedAt: new Date().toISOString(), machine: info, only: only ?? null, rows, table }, null, 1)}\n`);
  console.log(`\nwritten: ${file}`);
  const misses = rows.filter((r) => r.met === false).length;
  const notMeasured = rows.filter((r) => r.measured === '—').length;
  console.log(`${rows.filter((r) => r.met === true).length} goals met, ${misses} missed, ${notMeasured} not measured`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
