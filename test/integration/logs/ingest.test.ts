import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import { appendOnServer, berthWithServers, call, ensureBaseImage, gatewayLine, onServer, predict, removeContainers, removeServingDirs, runServing, waitReady } from './support';

const PREFIX = 'berth-obsinf';
const PORT = 19410;
const MODEL = `
def predict(inputs):
    return {"echo": inputs, "n": len(inputs) if isinstance(inputs, list) else 1}
`;
const gwRoot = mkdtempSync(join(tmpdir(), 'berth-obs-gw-'));
const gwDir = (server: string) => join(gwRoot, server);
let env: Awaited<ReturnType<typeof berthWithServers>>;
let berth: Berth;
const seq = new Map<string, number>();
const sent: string[] = [];

/** One request through "the gateway": the replica really serves it; the gateway's log line is written as the gateway would. */
function request(index: number, inputs: unknown, options: { status?: number; viaReplica?: boolean } = {}): string {
  const server = env.bed.servers[index].name;
  const n = (seq.get(server) ?? 0) + 1;
  seq.set(server, n);
  const id = `rq-${server}-${n}-${process.pid}`;
  if (options.viaReplica !== false) expect(predict(env.bed, index, PORT, { inputs }, id, 'key_a')).toBe(200);
  appendOnServer(env.bed, index, join(gwDir(server), 'requests.jsonl'), gatewayLine(n, id, options.status ? { status: options.status, upstream: null, error: 'Unauthorized' } : {}));
  sent.push(id);
  return id;
}

const allRecords = async (b: Berth) => (await call(b, 'inference.search', { from: new Date(0).toISOString(), limit: 1000 })).records as any[];

beforeAll(async () => {
  ensureBaseImage();
  process.env.BERTH_GATEWAY_LOG_DIR = join(gwRoot, '{server}');
  env = await berthWithServers(3);
  berth = env.berth;
  removeContainers(env.bed, PREFIX);
  env.bed.servers.forEach((_, i) => runServing(env.bed, i, { name: `${PREFIX}-v1-r1`, model: 'obsinf', version: 1, replica: 1, port: PORT, module: MODEL }));
  for (let i = 0; i < 3; i++) await waitReady(env.bed, i, PORT);
});

afterAll(() => {
  delete process.env.BERTH_GATEWAY_LOG_DIR;
  berth?.close();
  if (env) removeContainers(env.bed, PREFIX);
  removeServingDirs();
  rmSync(gwRoot, { recursive: true, force: true });
});

describe('inference records pulled from the test servers', () => {
  it('joins gateway and replica lines of each request into one searchable row', async () => {
    for (let i = 0; i < 3; i++) {
      for (let k = 0; k < 5; k++) request(i, [i, k, `zebra-${i}${k}`]);
      request(i, null, { status: 401, viaReplica: false });
    }
    const sync = await call(berth, 'inference.sync', {});
    expect(sync.servers.map((s: any) => [s.server, s.gateway, s.replica, s.error])).toEqual([
      ['tb1', 6, 5, null],
      ['tb2', 6, 5, null],
      ['tb3', 6, 5, null],
    ]);
    const records = await allRecords(berth);
    expect(records).toHaveLength(18);
    expect(records.filter((r) => r.sources === 'both')).toHaveLength(15);
    const one = records.find((r) => r.input?.includes('zebra-12'));
    expect(one).toMatchObject({ server: 'tb2', model: 'obsinf', version: '1', alias: 'latest', caller: 'key_a', status: 200, replica: `${PREFIX}-v1-r1`, sources: 'both' });
    expect(JSON.parse(one.output)).toEqual({ echo: [1, 2, 'zebra-12'], n: 3 });
    const found = await call(berth, 'inference.search', { from: new Date(0).toISOString(), text: 'zebra-12' });
    expect(found.records.map((r: any) => r.requestId)).toEqual([one.requestId]);
    const unauthorized = await call(berth, 'inference.search', { from: new Date(0).toISOString(), status: 401 });
    expect(unauthorized.records.map((r: any) => r.sources)).toEqual(['gateway', 'gateway', 'gateway']);
  });

  it('pulls what was written while Berth was closed, with nothing lost or duplicated, and pulling twice adds nothing', async () => {
    berth.close();
    for (let i = 0; i < 3; i++) for (let k = 0; k < 7; k++) request(i, [`closed-${i}-${k}`]);
    berth = createBerth({ home: env.home, mode: 'cli', version: 'test' });
    const first = await call(berth, 'inference.sync', {});
    expect(first.servers.map((s: any) => [s.gateway, s.replica])).toEqual([[7, 7], [7, 7], [7, 7]]);
    const second = await call(berth, 'inference.sync', {});
    expect(second.servers.map((s: any) => [s.gateway, s.replica, s.gaps])).toEqual([[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
    const records = await allRecords(berth);
    expect(records.map((r) => r.requestId).sort()).toEqual([...sent].sort());
    expect(records.filter((r) => r.requestId.includes('-') && r.input?.includes('closed-')).every((r) => r.sources === 'both')).toBe(true);
  });

  it('reports a gap when rotation removed gateway lines before they were pulled, and keeps pulling after it', async () => {
    const dir = gwDir('tb1');
    // Like the gateway with max 2 files: the current file becomes .1, then is rotated away before Berth pulls.
    for (let k = 0; k < 4; k++) request(0, [`lost-${k}`]);
    onServer(env.bed, 0, `cd ${dir} && mv requests.jsonl requests.jsonl.1`);
    for (let k = 0; k < 3; k++) request(0, [`lost-too-${k}`]);
    onServer(env.bed, 0, `cd ${dir} && rm requests.jsonl.1 && mv requests.jsonl requests.jsonl.1`);
    const kept = [request(0, ['after-0']), request(0, ['after-1'])];
    const sync = await call(berth, 'inference.sync', { serverIds: [env.ids[0]] });
    expect(sync.servers[0]).toMatchObject({ server: 'tb1', gateway: 5, gaps: 1 });
    const result = await call(berth, 'inference.search', { from: new Date(0).toISOString(), server: 'tb1', limit: 2 });
    expect(result.records.map((r: any) => r.requestId).sort()).toEqual(kept.sort());
    expect(result.gaps).toEqual([
      expect.objectContaining({ server: 'tb1', source: 'gateway', after: 'seq 13', before: 'seq 18', missing: 4, message: expect.stringMatching(/4 gateway records on tb1 \(seq 14–17\) were rotated away/) }),
    ]);
    const events = await call(berth, 'events.list', {});
    expect(events[0]).toMatchObject({ kind: 'ingest.gap', subject: 'tb1', actor: 'berth-ingest' });
    // The replica lines of the lost gateway lines are still there: those requests are kept from the replica side.
    const lost = await call(berth, 'inference.search', { from: new Date(0).toISOString(), text: 'lost' });
    expect(lost.records).toHaveLength(7);
    expect(lost.records.filter((r: any) => r.sources === 'replica').map((r: any) => JSON.parse(r.input)[0]).sort()).toEqual(['lost-0', 'lost-1', 'lost-2', 'lost-3']);
  });
});
