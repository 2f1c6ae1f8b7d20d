import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployEvent } from '../shared/deploy';
import { InferenceQuery } from '../shared/logs';
import { createInferenceStore, type GatewayEntry, type ReplicaEntry } from '../electron/main/services/logs/inference-store';
import { createInferenceSearch } from '../electron/main/services/logs/search';
import { openDatabase } from '../electron/main/services/store/database';
import { failed, onServer, startLoad, type Answer } from '../test/faults/support';
import type { BenchContext } from './context';
import { median, ms, run, type Row } from './lib';
import { wrk } from './gateway';

/** P4 (switch and rollback under load), P5 (a server crash under load), P6 (logs: live latency, ingest, search). */

function convergence(answers: Answer[], target: string, from: number) {
  const after = answers.filter((a) => a.sentAt >= from);
  const lastOther = after.filter((a) => a.version !== target).at(-1);
  const firstTarget = after.find((a) => a.version === target);
  return {
    requests: answers.length,
    failed: failed(answers).length,
    untilAllTargetMs: lastOther ? lastOther.sentAt - from : 0,
    mixedMs: lastOther && firstTarget ? Math.max(0, lastOther.sentAt - firstTarget.sentAt) : 0,
  };
}

const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));

export async function benchSwitch(ctx: BenchContext, rows: Row[], model: string, nextImage: string): Promise<void> {
  const all = ctx.bed.servers.map((_, i) => i);
  const orchestrator = ctx.berth.services.orchestrator;
  const store = ctx.berth.services.deployStore;
  const latest = () => store.version(store.aliases(store.model(model).id).find((a) => a.alias === 'latest')!.version_id).number;
  const from = latest();

  // A version switch (deploy of the next version) under 200 rps.
  let load = startLoad(ctx.bed, { model, rps: 200, servers: all, prefix: 'bench-switch', maxSeconds: 300 });
  await sleep(2000);
  let switchAt = 0;
  const started = Date.now();
  const deployed = await orchestrator.deploy(
    { model, imageRef: nextImage, group: 'prod', replicas: 1, memoryMb: 256, readyTimeoutMs: 60_000 },
    (e: DeployEvent) => void (e.type === 'progress' && e.phase === 'switch' && !switchAt && (switchAt = Date.now())),
  );
  const deployMs = Date.now() - started;
  await sleep(3000);
  const sw = convergence(await load.stop(), String(deployed.number), switchAt);

  // A rollback to the previous version under 200 rps.
  load = startLoad(ctx.bed, { model, rps: 200, servers: all, prefix: 'bench-rollback', maxSeconds: 300 });
  await sleep(2000);
  const rollbackAt = Date.now();
  await orchestrator.rollback(model, from);
  const rollbackMs = Date.now() - rollbackAt;
  await sleep(3000);
  const rb = convergence(await load.stop(), String(from), rollbackAt);
  console.log(`[bench] P4 switch ${JSON.stringify(sw)} (deploy ${deployMs} ms); rollback ${JSON.stringify(rb)} (${rollbackMs} ms)`);

  rows.push({
    id: 'P4',
    what: `version switch (deploy v${deployed.number}) under 200 rps on 3 servers: failed requests; time from switch start until 100% of answers are v${deployed.number}`,
    measured: `${sw.failed} failed of ${sw.requests}; ${ms(sw.untilAllTargetMs)}`,
    baseline: `whole deploy ${ms(deployMs)}; mixed-version window ${ms(sw.mixedMs)}`,
    ratio: '—',
    goal: '0 failed',
    met: sw.failed === 0,
    data: sw,
  });
  rows.push({
    id: 'P4',
    what: `rollback to v${from} under 200 rps: failed requests; time until 100% of answers are v${from}`,
    measured: `${rb.failed} failed of ${rb.requests}; ${ms(rb.untilAllTargetMs)}`,
    baseline: `rollback call ${ms(rollbackMs)}; mixed-version window ${ms(rb.mixedMs)}`,
    ratio: '—',
    goal: '0 failed',
    met: rb.failed === 0,
    data: rb,
  });
}

export async function benchFailover(ctx: BenchContext, rows: Row[], model: string): Promise<void> {
  const { berth, bed } = ctx;
  const lost = bed.servers.length - 1;
  const survivors = bed.servers.map((_, i) => i).filter((i) => i !== lost);
  const alerts: Array<{ at: number; event: any }> = [];
  const cancel = berth.dispatcher.subscribe('alerts.watch', {}, (event) => void alerts.push({ at: Date.now(), event }), () => undefined);
  const monitor = berth.services.observability.monitor;
  monitor.start();
  const tb = (...args: string[]) => execFileSync('bash', ['test/bed/tb.sh', ...args], { cwd: ctx.repoRoot, env: process.env, stdio: 'pipe', timeout: 180_000 });
  const healthyReplicas = async () => {
    let total = 0;
    for (const i of survivors) {
      const r = await fetch(`http://${bed.servers[i].host}:8700/_berth/health`, { signal: AbortSignal.timeout(2000) }).then((x) => x.json() as Promise<any>).catch(() => null);
      const versions = r?.models?.[model]?.versions ?? {};
      const live = r?.models?.[model]?.aliases?.latest;
      total += versions[live]?.healthy ?? 0;
    }
    return total;
  };
  try {
    await sleep(5000); // the monitor's first rounds
    const before = await healthyReplicas();
    const load = startLoad(bed, { model, rps: 200, servers: survivors, prefix: 'bench-failover', maxSeconds: 300 });
    await sleep(2000);
    const crashedAt = Date.now();
    tb('crash', String(lost + 1));
    let detectedMs = NaN;
    let restoredMs = NaN;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && (Number.isNaN(detectedMs) || Number.isNaN(restoredMs))) {
      const opened = alerts.find((a) => a.at >= crashedAt && a.event.type === 'opened' && a.event.alert.kind === 'server_unreachable' && a.event.alert.subject === bed.servers[lost].name);
      if (opened && Number.isNaN(detectedMs)) detectedMs = opened.at - crashedAt;
      // Restored: the survivors' gateways route as many healthy replicas of the live version as all 3 servers had.
      if (Number.isNaN(restoredMs) && (await healthyReplicas()) >= before + 1) restoredMs = Date.now() - crashedAt;
      await sleep(100);
    }
    await sleep(2000);
    const answers = await load.stop();
    const lostRequests = failed(answers).length;
    console.log(`[bench] P5 detected ${detectedMs} ms, restored ${restoredMs} ms, ${lostRequests} failed of ${answers.length} at the survivors`);
    rows.push({
      id: 'P5',
      what: `server crash under 200 rps: detection (alert) time`,
      measured: Number.isNaN(detectedMs) ? 'not detected within 120 s' : ms(detectedMs),
      baseline: '—',
      ratio: '—',
      goal: '≤5 s',
      met: detectedMs <= 5000,
    });
    rows.push({
      id: 'P5',
      what: `server crash: time until the group's replica count is restored on the survivors (healthy at their gateways)`,
      measured: Number.isNaN(restoredMs) ? 'not restored within 120 s' : ms(restoredMs),
      baseline: `${before} healthy replicas on the 2 survivors before, ${before + 1} wanted`,
      ratio: '—',
      goal: '≤30 s',
      met: restoredMs <= 30_000,
    });
    rows.push({
      id: 'P5',
      what: 'server crash: requests failed at the surviving servers',
      measured: `${lostRequests} of ${answers.length}`,
      baseline: '—',
      ratio: '—',
      goal: '0',
      met: lostRequests === 0,
    });
  } finally {
    tb('restore', String(lost + 1));
    await sleep(15_000); // let the rebalance after the return run before the next section
    monitor.stop();
    cancel();
  }
}

const TICKER = `
import sys, time
i = 0
while True:
    i += 1
    sys.stdout.write(f"tick {i} {time.time() * 1000:.1f}\\n")
    sys.stdout.flush()
    time.sleep(0.1)
`;

export async function benchLogs(ctx: BenchContext, rows: Row[], model: string, image: string): Promise<void> {
  const { berth, bed } = ctx;
  // Live logs: container write → event in the viewer (same kernel clock). The model's image is on the server already.
  const name = 'berth-benchtick-v1-r1';
  onServer(bed, 0, `docker rm -f ${name} >/dev/null 2>&1; docker run -d --name ${name} --label berth.model=benchtick --label berth.version=1 --label berth.replica=1 --network none ${image} python3 -u -c '${TICKER}' >/dev/null`);
  ctx.cleanup.push(async () => void onServer(bed, 0, `docker rm -f ${name} >/dev/null 2>&1 || true`));
  const events: Array<{ at: number; event: any }> = [];
  const cancel = berth.dispatcher.subscribe('logs.follow', { target: { kind: 'container', serverId: ctx.serverIds[0], container: name }, tail: 0 }, (event) => void events.push({ at: Date.now(), event }), () => undefined);
  await sleep(12_000);
  cancel();
  const latencies = events.flatMap(({ at, event }) => (event.type === 'lines' ? event.lines.filter((l: any) => l.text.startsWith('tick')).map((l: any) => at - Number(l.text.split(' ')[2])) : []));
  const recent = latencies.slice(-80);
  rows.push({
    id: 'P6',
    what: `live log: container write → viewer event (median of the last ${recent.length} lines; p99)`,
    measured: recent.length ? `${ms(median(recent))} (p99 ${ms([...recent].sort((a, b) => a - b)[Math.floor(recent.length * 0.99)] ?? NaN)})` : 'no lines',
    baseline: '—',
    ratio: '—',
    goal: '≤250 ms',
    met: recent.length > 0 && median(recent) <= 250,
  });

  // Inference log ingest: real requests through a gateway, then one pull of gateway + replica logs into SQLite.
  const before = await berth.services.observability.inference.ingest.sync([ctx.serverIds[0]]);
  const w = await wrk(ctx, `http://127.0.0.1:8700/${model}/latest/predict`, { connections: 16, seconds: 10, delayMs: 0, body: '{"inputs": [1, 2]}' });
  await sleep(1000);
  const t0 = Date.now();
  const sync = await berth.services.observability.inference.ingest.sync([ctx.serverIds[0]]);
  const tookMs = Date.now() - t0;
  const s = sync.servers[0];
  const rate = (s.gateway + s.replica) / (tookMs / 1000);
  console.log(`[bench] P6 ingest: first sync ${JSON.stringify(before.servers)}; after ${w.requests} requests: ${JSON.stringify(sync.servers)} in ${tookMs} ms`);
  rows.push({
    id: 'P6',
    what: `inference log ingest: ${w.requests} requests' gateway + replica lines pulled from a server and joined in SQLite`,
    measured: `${Math.round(rate)} lines/s (${s.gateway} + ${s.replica} lines in ${ms(tookMs)})`,
    baseline: `${Math.round(w.rps)} rps served while they were written`,
    ratio: `${(rate / 2 / w.rps).toFixed(1)}× the serving rate`,
    goal: 'faster than the requests arrive',
    met: rate / 2 > w.rps,
    data: { sync, wrk: w },
  });

  // Search over 1M rows (a real SQLite file, the same store and search code).
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-search-'));
  try {
    const db = openDatabase(join(dir, 'berth.db'));
    const store = createInferenceStore(db);
    const T0 = Date.UTC(2025, 0, 1);
    const SPAN = 7 * 86_400_000;
    const search = createInferenceSearch(store, () => new Date(T0 + SPAN));
    const N = 1_000_000;
    const words = ['setosa', 'versicolor', 'virginica', 'petal', 'sepal', 'width', 'length', 'tiny', 'large', 'outlier'];
    const servers = [1, 2, 3].map((id) => ({ id, name: `srv${id}` }));
    const container = { id: 'c0ffee', name: 'berth-iris-v1-r1' };
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const i0 = Date.now();
    for (let base = 0; base < N; base += 5000) {
      const batch = new Map(servers.map((sv) => [sv.id, { gw: [] as GatewayEntry[], rep: [] as ReplicaEntry[] }]));
      for (let i = base; i < base + 5000; i++) {
        const sv = servers[i % 3];
        const ts = T0 + Math.floor((i / N) * SPAN);
        const word = words[Math.floor(rand() * words.length)];
        const slot = batch.get(sv.id)!;
        slot.gw.push({ seq: Math.floor(i / 3) + 1, ts: new Date(ts).toISOString(), request_id: `req-${i}`, model: 'iris', version: '1', alias: null, caller: `key_${i % 7}`, method: 'POST', path: '/predict', status: 200, latency_ms: 2 + rand() * 40, upstream: '127.0.0.1:9101', bytes_in: 40, bytes_out: 30 });
        slot.rep.push({ dockerTs: `${new Date(ts).toISOString().slice(0, 19)}.${String(i).padStart(9, '0')}Z`, ts: new Date(ts + 3).toISOString(), request_id: `req-${i}`, method: 'POST', path: '/predict', status: 200, latency_ms: 1.5, model: 'iris', model_version: '1', caller: `key_${i % 7}`, input: `{"inputs": [[${(rand() * 8).toFixed(1)}], "${word}", "id${i}"]}`, output: `{"predictions": ["${words[i % 3]}"]}`, error: null });
      }
      store.transaction(() => {
        for (const sv of servers) {
          store.addGateway(sv, 0, batch.get(sv.id)!.gw);
          store.addReplica(sv, container, batch.get(sv.id)!.rep);
        }
      });
    }
    const insertS = (Date.now() - i0) / 1000;
    const queries: Array<[string, unknown]> = [
      ['rare token', { text: 'id424242' }],
      ['common word, newest 100', { text: 'outlier' }],
      ['prefix + model + caller', { text: 'virgin*', model: 'iris', caller: 'key_3' }],
      ['text in a one-hour window', { text: 'sepal', from: new Date(T0 + 86_400_000).toISOString(), to: new Date(T0 + 86_400_000 + 3_600_000).toISOString() }],
    ];
    const results: Record<string, number> = {};
    for (const [label, input] of queries) {
      const q = InferenceQuery.parse(input);
      await search.search(q);
      const runs: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t = performance.now();
        await search.search(q);
        runs.push(performance.now() - t);
      }
      results[label] = median(runs);
    }
    await search.close();
    db.close();
    const worst = Math.max(...Object.values(results));
    rows.push({
      id: 'P6',
      what: `search over 1M inference rows (worst median of ${queries.length} queries: ${Object.entries(results).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join('; ')})`,
      measured: ms(worst),
      baseline: `1M rows inserted in ${insertS.toFixed(0)} s (${Math.round(N / insertS)} rows/s)`,
      ratio: '—',
      goal: '≤100 ms',
      met: worst <= 100,
      data: results,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  void run;
}
