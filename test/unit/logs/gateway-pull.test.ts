import { appendFileSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseListing, pullGatewayLog } from '../../../electron/main/services/logs/gateway-pull';
import { createInferenceStore, type InferenceStore } from '../../../electron/main/services/logs/inference-store';
import { openDatabase } from '../../../electron/main/services/store/database';
import { localShell } from './local-ssh';

const server = { id: 7, name: 'tb7' };
const ssh = localShell();

/** A line exactly as resources/gateway/reqlog.go writes it. */
const line = (seq: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    seq,
    ts: new Date(Date.UTC(2025, 0, 1, 12, 0, 0) + seq * 1000).toISOString(),
    request_id: `gw-${seq}`,
    model: 'iris',
    version: '1',
    alias: null,
    caller: 'key_1',
    method: 'POST',
    path: '/predict',
    status: 200,
    latency_ms: 3.5,
    upstream: '127.0.0.1:9101',
    bytes_in: 10,
    bytes_out: 20,
    ...extra,
  }) + '\n';
const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');

let dir: string;
let store: InferenceStore;
const seqs = () => (store.db.prepare('SELECT gw_seq FROM inference_requests ORDER BY gw_seq').all() as { gw_seq: number }[]).map((r) => r.gw_seq);
const gaps = () => store.db.prepare('SELECT after_ref, before_ref, missing FROM ingest_gaps ORDER BY id').all();
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-gwlog-'));
  store = createInferenceStore(openDatabase(':memory:'));
});

describe('pulling the gateway request log', () => {
  it('does nothing when the folder does not exist yet', async () => {
    rmSync(dir, { recursive: true });
    expect(await pullGatewayLog(ssh, server, store, dir)).toEqual({ added: 0, gaps: 0, malformed: 0 });
  });

  it('pulls every line once, and only new lines afterwards', async () => {
    writeFileSync(join(dir, 'requests.jsonl'), lines(1, 50));
    expect((await pullGatewayLog(ssh, server, store, dir)).added).toBe(50);
    expect((await pullGatewayLog(ssh, server, store, dir)).added).toBe(0);
    appendFileSync(join(dir, 'requests.jsonl'), lines(51, 60));
    expect((await pullGatewayLog(ssh, server, store, dir)).added).toBe(10);
    expect(seqs()).toEqual(range(1, 60));
    expect(gaps()).toEqual([]);
  });

  it('leaves a half-written last line for the next pull', async () => {
    const full = line(2);
    writeFileSync(join(dir, 'requests.jsonl'), line(1) + full.slice(0, 30));
    expect((await pullGatewayLog(ssh, server, store, dir)).added).toBe(1);
    appendFileSync(join(dir, 'requests.jsonl'), full.slice(30));
    expect((await pullGatewayLog(ssh, server, store, dir)).added).toBe(1);
    expect(seqs()).toEqual([1, 2]);
  });

  it('follows the file through rotation without gaps or duplicates, in small chunks', async () => {
    const current = join(dir, 'requests.jsonl');
    writeFileSync(current, lines(1, 30));
    await pullGatewayLog(ssh, server, store, dir, { chunkBytes: 1000 });
    appendFileSync(current, lines(31, 40));
    renameSync(current, join(dir, 'requests.jsonl.1'));
    writeFileSync(current, lines(41, 70));
    const result = await pullGatewayLog(ssh, server, store, dir, { chunkBytes: 1000 });
    expect(result).toEqual({ added: 40, gaps: 0, malformed: 0 });
    expect(seqs()).toEqual(range(1, 70));
  });

  it('records a gap when rotation deleted lines before they were pulled', async () => {
    const current = join(dir, 'requests.jsonl');
    writeFileSync(current, lines(1, 10));
    await pullGatewayLog(ssh, server, store, dir);
    // Three rotations with max 2 files: 11–20 and 21–30 are gone, 31–40 is .1, 41–45 current.
    appendFileSync(current, lines(11, 20));
    for (const [from, to] of [[21, 30], [31, 40], [41, 45]]) {
      try {
        unlinkSync(join(dir, 'requests.jsonl.1'));
      } catch {
        // first rotation: no .1 yet
      }
      renameSync(current, join(dir, 'requests.jsonl.1'));
      writeFileSync(current, lines(from, to));
    }
    const result = await pullGatewayLog(ssh, server, store, dir);
    expect(result.gaps).toBe(1);
    expect(gaps()).toEqual([{ after_ref: 'seq 10', before_ref: 'seq 31', missing: 20 }]);
    expect(seqs()).toEqual([...range(1, 10), ...range(31, 45)]);
    expect(store.gaps(0, Date.now())[0].message).toMatch(/^20 gateway records on tb7 \(seq 11–30\) were rotated away/);
  });

  it('starts a new epoch when the numbering starts again (log folder wiped)', async () => {
    writeFileSync(join(dir, 'requests.jsonl'), lines(1, 20));
    await pullGatewayLog(ssh, server, store, dir);
    rmSync(join(dir, 'requests.jsonl'));
    writeFileSync(join(dir, 'requests.jsonl'), lines(1, 5));
    expect((await pullGatewayLog(ssh, server, store, dir)).added).toBe(5);
    expect(store.db.prepare('SELECT gw_epoch, count(*) AS n FROM inference_requests GROUP BY gw_epoch').all()).toEqual([
      { gw_epoch: 0, n: 20 },
      { gw_epoch: 1, n: 5 },
    ]);
  });

  it('skips malformed lines (a crash-cut line ended by the gateway) and counts them', async () => {
    writeFileSync(join(dir, 'requests.jsonl'), line(1) + '{"seq":2,"ts":"20\n' + line(3));
    const result = await pullGatewayLog(ssh, server, store, dir);
    expect(result).toEqual({ added: 2, gaps: 1, malformed: 1 });
    expect(seqs()).toEqual([1, 3]);
  });

  it('orders rotated files oldest first', () => {
    const { files, lastSeq } = parseListing(
      ['@file 11 100 requests.jsonl 41', '@file 12 100 requests.jsonl.10 1', '@file 13 100 requests.jsonl.2 21', '@file 14 0 requests.jsonl.1 -', '@last 45'].join('\n'),
    );
    expect(files.map((f) => f.name)).toEqual(['requests.jsonl.10', 'requests.jsonl.2', 'requests.jsonl.1', 'requests.jsonl']);
    expect(files[2].firstSeq).toBeNull();
    expect(lastSeq).toBe(45);
  });
});
