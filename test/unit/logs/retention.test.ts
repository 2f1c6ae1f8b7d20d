import { afterEach, describe, expect, it } from 'vitest';
import { createInferenceIngest } from '../../../electron/main/services/logs/ingest';
import { createRetention } from '../../../electron/main/services/logs/retention';
import { BerthError } from '../../../shared/errors';
import { fileStore, insertRecords } from './records';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 3, 1);

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

/** 50 records, one a day ending at T0, inserted newest first (ids do not follow the times); every 5th has an error. */
function fiftyDays() {
  const files = fileStore();
  cleanup.push(files.cleanup);
  const records = Array.from({ length: 50 }, (_, i) => ({
    ts: T0 - i * DAY,
    input: `{"day": "d${i}"}`,
    error: i % 5 === 0 ? `ValueError: late${i}` : null,
  }));
  const ids = insertRecords(files.db, records);
  const days = () => (files.db.prepare('SELECT input FROM inference_requests ORDER BY ts_ms DESC').pluck().all() as string[]).map((t) => JSON.parse(t).day);
  const indexed = (word: string) => files.db.prepare('SELECT rowid FROM inference_fts WHERE inference_fts MATCH ?').pluck().all(`"${word}"`) as number[];
  return { ...files, ids, days, indexed };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `d${from + i}`);

describe('inference record retention', () => {
  it('deletes the records older than the retention, oldest first, and their full-text rows', async () => {
    const { db, store, ids, days, indexed } = fiftyDays();
    db.prepare("INSERT INTO ingest_gaps (server_id, server_name, source, after_ref, before_ref, missing, at_ms, detected_at, message) VALUES (1, 'tb1', 'gateway', 'seq 1', 'seq 9', 7, ?, '', 'old')").run(T0 - 40 * DAY);
    const retention = createRetention({ store, policy: () => ({ days: 30, maxRows: 1_000_000 }), now: () => new Date(T0) });
    expect(await retention.run()).toBe(19); // d31..d49 are older than 30 days (d30 is exactly 30 days old and stays)
    expect(days()).toEqual(range(0, 30));
    expect(indexed('d40')).toEqual([]);
    expect(indexed('late45')).toEqual([]);
    expect(indexed('late30')).toEqual([ids[30]]);
    expect(db.prepare('SELECT count(*) FROM ingest_gaps').pluck().get()).toBe(0);
    // The full-text index matches its content table exactly (FTS5's own check).
    expect(() => db.prepare("INSERT INTO inference_fts (inference_fts, rank) VALUES ('integrity-check', 1)").run()).not.toThrow();
  });

  it('keeps at most the maximum row count, deleting the oldest beyond it in bounded batches', async () => {
    const { db, store, days, indexed } = fiftyDays();
    const retention = createRetention({ store, policy: () => ({ days: 3650, maxRows: 30 }), now: () => new Date(T0), batch: 7, maxBatches: 2 });
    // A pass stops after two batches of 7; the next pull continues at once, not an interval later.
    expect(await retention.afterPull()).toBe(14);
    expect(days()).toEqual(range(0, 35));
    expect(await retention.afterPull()).toBe(6);
    expect(days()).toEqual(range(0, 29));
    expect(indexed('d30')).toEqual([]);
    expect(indexed('d29')).toHaveLength(1);
    expect(await retention.afterPull()).toBe(0); // within the interval: no pass
    expect(() => db.prepare("INSERT INTO inference_fts (inference_fts, rank) VALUES ('integrity-check', 1)").run()).not.toThrow();
  });

  it('is applied when the servers are pulled, even when a pull fails', async () => {
    const { store, days } = fiftyDays();
    const ingest = createInferenceIngest({
      store,
      listServers: () => [{ id: 1, name: 'tb1' }],
      connection: async () => {
        throw new BerthError('SshUnreachable', 'tb1 does not answer');
      },
      retention: () => ({ days: 10, maxRows: 1_000_000 }),
    });
    // The records are a year old by the real clock; the policy keeps 10 days.
    const sync = await ingest.sync();
    expect(sync.servers[0].error).toBe('tb1 does not answer');
    expect(days()).toEqual([]);
  });
});
