import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { createInferenceStore, type GatewayEntry, type InferenceStore, type ReplicaEntry } from '../../../electron/main/services/logs/inference-store';
import { parseReplicaLine } from '../../../electron/main/services/logs/replica-pull';
import { createInferenceSearch, ftsExpression } from '../../../electron/main/services/logs/search';
import { openDatabase } from '../../../electron/main/services/store/database';
import { InferenceExportInput, InferenceQuery, InferenceStatsInput } from '../../../shared/logs';

const server = { id: 1, name: 'tb1' };
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

const gw = (seq: number, over: Partial<GatewayEntry> = {}): GatewayEntry => ({
  seq,
  ts: iso(T0 + seq * 1000),
  request_id: `r${seq}`,
  model: 'iris',
  version: '1',
  alias: 'latest',
  caller: 'key_a',
  method: 'POST',
  path: '/predict',
  status: 200,
  latency_ms: seq,
  upstream: '127.0.0.1:9101',
  bytes_in: 1,
  bytes_out: 2,
  ...over,
});
const rep = (n: number, over: Partial<ReplicaEntry> = {}): ReplicaEntry => ({
  dockerTs: `2025-01-01T12:00:${String(n % 60).padStart(2, '0')}.${String(n).padStart(9, '0')}Z`,
  ts: iso(T0 + n * 1000 + 5),
  request_id: `r${n}`,
  method: 'POST',
  path: '/predict',
  status: 200,
  latency_ms: 1.5,
  model: 'iris',
  model_version: '1',
  caller: 'key_a',
  input: `{"inputs": [[5.1, 3.5, ${n}]]}`,
  output: `{"predictions": ["setosa-${n}"]}`,
  error: null,
  ...over,
});

let store: InferenceStore;
let search: ReturnType<typeof createInferenceSearch>;
const container = { id: 'c0ffee', name: 'berth-iris-v1-r1' };
const q = (input: Parameters<typeof InferenceQuery.parse>[0]) => search.search(InferenceQuery.parse(input));

beforeEach(() => {
  store = createInferenceStore(openDatabase(':memory:'));
  search = createInferenceSearch(store, () => new Date(T0 + 3_600_000));
});

describe('inference records', () => {
  it('joins the gateway line and the replica line of a request into one row, in either order', async () => {
    store.addGateway(server, 0, [gw(1), gw(2)]);
    store.addReplica(server, container, [rep(1), rep(2), rep(3)]);
    store.addGateway(server, 0, [gw(3, { status: 500, error: 'UpstreamError' })]);
    const rows = (await q({})).records;
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.sources === 'both')).toBe(true);
    const third = rows.find((r) => r.requestId === 'r3')!;
    expect(third).toMatchObject({ status: 500, caller: 'key_a', alias: 'latest', replica: 'berth-iris-v1-r1', output: '{"predictions": ["setosa-3"]}' });
    expect(third.ts).toBe(iso(T0 + 3000)); // the gateway's start time wins
  });

  it('ignores a line it has already stored (pulling twice adds nothing)', async () => {
    expect(store.addGateway(server, 0, [gw(1), gw(2)])).toBe(2);
    expect(store.addGateway(server, 0, [gw(1), gw(2)])).toBe(0);
    expect(store.addReplica(server, container, [rep(1)])).toBe(1);
    expect(store.addReplica(server, container, [rep(1)])).toBe(0);
    expect((await q({})).records).toHaveLength(2);
  });

  it('keeps two requests that reuse a client-chosen request id apart', async () => {
    store.addGateway(server, 0, [gw(1, { request_id: 'same' }), gw(500, { request_id: 'same' })]);
    store.addReplica(server, container, [rep(1, { request_id: 'same' }), rep(500, { request_id: 'same' })]);
    const rows = (await q({})).records;
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => [r.latencyMs, r.output])).toEqual([
      [500, '{"predictions": ["setosa-500"]}'],
      [1, '{"predictions": ["setosa-1"]}'],
    ]);
  });

  it('searches input, output and error with FTS, safely, combined with filters', async () => {
    store.addGateway(server, 0, Array.from({ length: 20 }, (_, i) => gw(i + 1, i % 5 === 0 ? { status: 503, version: '2' } : {})));
    store.addReplica(server, container, Array.from({ length: 20 }, (_, i) => rep(i + 1, i === 7 ? { error: 'ValueError: bad shape (3,)', output: null } : {})));
    expect((await q({ text: 'setosa-12' })).records.map((r) => r.requestId)).toEqual(['r12']);
    expect((await q({ text: 'ValueError shape' })).records.map((r) => r.requestId)).toEqual(['r8']);
    expect((await q({ text: 'valueerr*' })).records).toHaveLength(1);
    expect((await q({ text: '"unbalanced AND (' })).records).toHaveLength(0); // no FTS syntax error
    expect((await q({ status: 'server_error' })).records.map((r) => r.requestId)).toEqual(['r16', 'r11', 'r6', 'r1']);
    expect((await q({ version: '2', text: 'setosa' })).records).toHaveLength(4);
    expect((await q({ from: iso(T0 + 10_000), to: iso(T0 + 12_000) })).records.map((r) => r.requestId)).toEqual(['r12', 'r11', 'r10']);
    const page = await q({ limit: 5 });
    expect(page.records).toHaveLength(5);
    expect(page.more).toBe(true);
    expect((await q({ limit: 5, offset: 15 })).more).toBe(false);
  });

  it('builds FTS expressions that cannot be injected', () => {
    expect(ftsExpression('hello world*')).toBe('"hello" "world"*');
    expect(ftsExpression('a" OR b')).toBe('"a" "OR" "b"');
    expect(ftsExpression('  ()"  ')).toBeNull();
  });

  it('charts requests, errors and latency percentiles per version', async () => {
    // 100 requests in the first minute with latency 1..100 ms, 10% of them failing; 10 of version 2.
    const entries = Array.from({ length: 100 }, (_, i) =>
      gw(i + 1, { ts: iso(T0 + i * 100), latency_ms: i + 1, status: i % 10 === 0 ? 500 : 200 }),
    );
    entries.push(...Array.from({ length: 10 }, (_, i) => gw(1000 + i, { ts: iso(T0 + i * 100), version: '2', latency_ms: 50 })));
    store.addGateway(server, 0, entries);
    const stats = await search.stats(InferenceStatsInput.parse({ from: iso(T0), to: iso(T0 + 10 * 60_000), buckets: 10 }));
    expect(stats.bucketMs).toBe(60_000);
    const v1 = stats.series.find((s) => s.version === '1')!;
    expect(v1.points).toEqual([{ t: T0, requests: 100, errors: 10, p50: 50, p95: 95, p99: 99 }]);
    expect(stats.series.find((s) => s.version === '2')!.points[0]).toMatchObject({ requests: 10, errors: 0, p50: 50 });
  });

  it('exports CSV and JSONL, as text or to a new file', async () => {
    store.addGateway(server, 0, [gw(1), gw(2)]);
    store.addReplica(server, container, [rep(1, { input: 'has "quotes", commas\nand a newline' })]);
    const all = { from: iso(T0), to: iso(T0 + 60_000) };
    const csv = await search.export(InferenceExportInput.parse({ query: all, format: 'csv' }));
    expect(csv.rows).toBe(2);
    expect(csv.text!.split('\r\n')[0]).toBe('ts,server,requestId,model,version,alias,caller,method,path,status,latencyMs,replica,replicaLatencyMs,input,output,error,sources');
    expect(csv.text).toContain('"has ""quotes"", commas\nand a newline"');
    const file = join(mkdtempSync(join(tmpdir(), 'berth-export-')), 'out.jsonl');
    const written = await search.export(InferenceExportInput.parse({ query: all, format: 'jsonl', path: file }));
    expect(written).toEqual({ rows: 2, path: file, text: null });
    const parsed = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(parsed.map((r) => r.requestId)).toEqual(['r1', 'r2']);
    await expect(search.export(InferenceExportInput.parse({ query: all, format: 'jsonl', path: file }))).rejects.toThrow(/exists already/);
  });

  it('parses the serving wrapper request line and ignores other lines', () => {
    const line =
      '2025-01-01T12:00:01.123456789Z {"type": "request", "ts": "2025-01-01T12:00:01.120Z", "request_id": "gw1-5", "method": "POST", "path": "/predict", "status": 200, "latency_ms": 2.1, "model": "iris", "model_version": "3", "caller": "key_x", "input": "[1, 2]", "output": "[0]", "error": null}';
    expect(parseReplicaLine(line)).toMatchObject({ dockerTs: '2025-01-01T12:00:01.123456789Z', request_id: 'gw1-5', model_version: '3', input: '[1, 2]' });
    expect(parseReplicaLine('2025-01-01T12:00:01.1Z {"type": "lifecycle", "event": "ready"}')).toBeNull();
    expect(parseReplicaLine('Traceback (most recent call last):')).toBeNull();
  });
});
