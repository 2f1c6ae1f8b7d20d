import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInferenceStore } from '../../../electron/main/services/logs/inference-store';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';

/** A joined record as the store keeps it, written straight into SQLite (the FTS triggers index its text). */
export interface TestRecord {
  ts: number;
  model?: string;
  version?: string;
  caller?: string;
  server?: string;
  status?: number | null;
  input?: string | null;
  output?: string | null;
  error?: string | null;
}

/** A data folder's SQLite file in a temp dir, with the inference store on it. */
export function fileStore() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-inference-'));
  const file = join(dir, 'berth.db');
  const db = openDatabase(file);
  const store = createInferenceStore(db);
  return {
    file,
    db,
    store,
    cleanup() {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Inserts in one transaction, in the order given (so ids follow it, not the times). Returns the ids. */
export function insertRecords(db: Db, records: TestRecord[]): number[] {
  const insert = db.prepare(
    `INSERT INTO inference_requests (server_id, server_name, request_id, ts_ms, model, version, caller, method, path, status, input, output, error)
     VALUES (1, @server, @requestId, @ts, @model, @version, @caller, 'POST', '/predict', @status, @input, @output, @error)`,
  );
  return db.transaction(() =>
    records.map((r, i) =>
      Number(
        insert.run({
          server: r.server ?? 'tb1',
          requestId: `req-${i}`,
          ts: r.ts,
          model: r.model ?? 'iris',
          version: r.version ?? '1',
          caller: r.caller ?? 'key_a',
          status: r.status === undefined ? 200 : r.status,
          input: r.input === undefined ? `{"inputs": [${i}]}` : r.input,
          output: r.output === undefined ? '{"predictions": ["setosa"]}' : r.output,
          error: r.error ?? null,
        }).lastInsertRowid,
      ),
    ),
  )();
}
