import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createInferenceStore, type GatewayEntry, type ReplicaEntry } from '../../../electron/main/services/logs/inference-store';
import { createInferenceSearch } from '../../../electron/main/services/logs/search';
import { openDatabase } from '../../../electron/main/services/store/database';
import { InferenceQuery, InferenceStatsInput } from '../../../shared/logs';
import { median } from './support';

const N = 1_000_000;
const T0 = Date.UTC(2025, 0, 1);
const SPAN_MS = 7 * 86_400_000;
const WORDS = ['setosa', 'versicolor', 'virginica', 'petal', 'sepal', 'width', 'length', 'tiny', 'large', 'outlier'];

const dir = mkdtempSync(join(tmpdir(), 'berth-scale-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inference store at 1M records (real SQLite file)', () => {
  it('ingests joined records quickly and answers full-text searches fast', async () => {
    const db = openDatabase(join(dir, 'berth.db'));
    const store = createInferenceStore(db);
    const search = createInferenceSearch(store, () => new Date(T0 + SPAN_MS));
    const servers = [1, 2, 3].map((id) => ({ id, name: `tb${id}` }));
    const container = { id: 'c0ffee', name: 'berth-iris-v1-r1' };
    let rng = 42;
    const rand = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

    const started = performance.now();
    const BATCH = 5000;
    for (let base = 0; base < N; base += BATCH) {
      const perServer = new Map<number, { gw: GatewayEntry[]; rep: ReplicaEntry[] }>(servers.map((s) => [s.id, { gw: [], rep: [] }]));
      for (let i = base; i < base + BATCH; i++) {
        const server = servers[i % 3];
        const ts = T0 + Math.floor((i / N) * SPAN_MS);
        const word = WORDS[Math.floor(rand() * WORDS.length)];
        const failed = rand() < 0.02;
        const version = String(1 + (i % 4 === 0 ? 1 : 0));
        const slot = perServer.get(server.id)!;
        slot.gw.push({
          seq: Math.floor(i / 3) + 1, ts: new Date(ts).toISOString(), request_id: `req-${i}`, model: 'iris', version, alias: null,
          caller: `key_${i % 7}`, method: 'POST', path: '/predict', status: failed ? 500 : 200, latency_ms: 2 + rand() * 40,
          upstream: '127.0.0.1:9101', bytes_in: 40, bytes_out: 30,
        });
        slot.rep.push({
          dockerTs: `${new Date(ts).toISOString().slice(0, 19)}.${String(i).padStart(9, '0')}Z`, ts: new Date(ts + 3).toISOString(),
          request_id: `req-${i}`, method: 'POST', path: '/predict', status: failed ? 500 : 200, latency_ms: 1.5, model: 'iris', model_version: version,
          caller: `key_${i % 7}`, input: `{"inputs": [[${(rand() * 8).toFixed(1)}, ${(rand() * 4).toFixed(1)}], "${word}", "id${i}"]}`,
          output: failed ? null : `{"predictions": ["${WORDS[i % 3]}"]}`, error: failed ? `ValueError: ${word} out of range` : null,
        });
      }
      store.transaction(() => {
        for (const server of servers) {
          const slot = perServer.get(server.id)!;
          store.addGateway(server, 0, slot.gw);
          store.addReplica(server, container, slot.rep);
        }
      });
    }
    const ingestS = (performance.now() - started) / 1000;
    const lines = 2 * N;
    console.log(`[measure] ingest: ${N} requests (${lines} log lines joined) in ${ingestS.toFixed(1)} s = ${Math.round(N / ingestS)} records/s, ${Math.round(lines / ingestS)} lines/s`);
    expect(db.prepare('SELECT count(*) AS n, sum(gw_seq IS NOT NULL AND replica_ts IS NOT NULL) AS joined FROM inference_requests').get()).toEqual({ n: N, joined: N });

    const time = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      return performance.now() - t;
    };
    const queries: Array<[string, Parameters<typeof InferenceQuery.parse>[0], (n: number) => boolean]> = [
      ['rare token', { text: 'id424242' }, (n) => n === 1],
      ['common word, newest 100', { text: 'outlier' }, (n) => n === 100],
      ['error text + status', { text: 'ValueError petal', status: 'server_error' }, (n) => n > 0],
      ['prefix + model + version + caller', { text: 'virgin*', model: 'iris', version: '2', caller: 'key_3' }, (n) => n > 0],
      ['text in a one-hour window', { text: 'sepal', from: new Date(T0 + 86_400_000).toISOString(), to: new Date(T0 + 86_400_000 + 3_600_000).toISOString() }, (n) => n > 0],
    ];
    for (const [name, input, check] of queries) {
      const parsed = InferenceQuery.parse(input);
      expect(check((await search.search(parsed)).records.length), name).toBe(true);
      const runs: number[] = [];
      for (let i = 0; i < 7; i++) runs.push(await time(() => search.search(parsed)));
      console.log(`[measure] search "${name}": median ${median(runs).toFixed(1)} ms`);
      expect(median(runs)).toBeLessThan(2000);
    }
    const statsRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      statsRuns.push(await time(() => search.stats(InferenceStatsInput.parse({ from: new Date(T0).toISOString(), to: new Date(T0 + 86_400_000).toISOString(), buckets: 60 }))));
    }
    console.log(`[measure] charts over one day (~143k records): median ${median(statsRuns).toFixed(0)} ms`);
    await search.close();
    db.close();
  }, 900_000);
});
