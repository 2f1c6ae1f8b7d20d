import type { Db } from '../store/database';
import type { InferenceRecord, IngestGap } from '../../../../shared/logs';

/** One line of the gateway's requests.jsonl (resources/gateway/reqlog.go). */
export interface GatewayEntry {
  seq: number;
  ts: string;
  request_id: string;
  model: string | null;
  version: string | null;
  alias: string | null;
  caller: string | null;
  method: string;
  path: string;
  status: number;
  latency_ms: number;
  upstream: string | null;
  bytes_in: number;
  bytes_out: number;
  error?: string;
}

/** One "request" line of the serving wrapper (resources/serving/berth_serve.py), with Docker's timestamp. */
export interface ReplicaEntry {
  dockerTs: string;
  ts: string;
  request_id: string;
  method: string | null;
  path: string | null;
  status: number | null;
  latency_ms: number | null;
  model: string | null;
  model_version: string | null;
  caller: string | null;
  input: string | null;
  output: string | null;
  error: string | null;
}

export interface ServerRef {
  id: number;
  name: string;
}

/** A gateway line and a replica line are one request when they share server and request id within this window. */
const JOIN_WINDOW_MS = 10 * 60_000;

/** The newest gaps in the pulled logs within a time range (the search's and the store's). */
export const GAPS_SQL = 'SELECT * FROM ingest_gaps WHERE at_ms BETWEEN ? AND ? ORDER BY at_ms DESC LIMIT ?';
export interface GapRow {
  id: number;
  server_name: string;
  source: string;
  after_ref: string;
  before_ref: string;
  missing: number | null;
  detected_at: string;
  message: string;
}
export const toGap = (g: GapRow): IngestGap => ({
  id: g.id,
  server: g.server_name,
  source: g.source,
  after: g.after_ref,
  before: g.before_ref,
  missing: g.missing,
  detectedAt: g.detected_at,
  message: g.message,
});

export interface Row {
  id: number;
  server_name: string;
  request_id: string;
  ts_ms: number;
  model: string | null;
  version: string | null;
  alias: string | null;
  caller: string | null;
  method: string | null;
  path: string | null;
  status: number | null;
  latency_ms: number | null;
  replica_container: string | null;
  replica_latency_ms: number | null;
  input: string | null;
  output: string | null;
  error: string | null;
  gw_seq: number | null;
  replica_ts: string | null;
}

export const toRecord = (r: Row): InferenceRecord => ({
  id: r.id,
  server: r.server_name,
  requestId: r.request_id,
  ts: new Date(r.ts_ms).toISOString(),
  model: r.model,
  version: r.version,
  alias: r.alias,
  caller: r.caller,
  method: r.method,
  path: r.path,
  status: r.status,
  latencyMs: r.latency_ms,
  replica: r.replica_container,
  replicaLatencyMs: r.replica_latency_ms,
  input: r.input,
  output: r.output,
  error: r.error,
  sources: r.gw_seq !== null && r.replica_ts !== null ? 'both' : r.gw_seq !== null ? 'gateway' : 'replica',
});

const textOrNull = (v: unknown) => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));

/** The inference records in SQLite: idempotent inserts keyed by the source line, joined by request id. */
export function createInferenceStore(db: Db, now: () => Date = () => new Date()) {
  const q = {
    gatewaySeen: db.prepare<[number, number, number], { id: number }>(
      'SELECT id FROM inference_requests WHERE server_id = ? AND gw_epoch = ? AND gw_seq = ?',
    ),
    replicaSeen: db.prepare<[number, string, string], { id: number }>(
      'SELECT id FROM inference_requests WHERE server_id = ? AND replica_id = ? AND replica_ts = ?',
    ),
    waitingForGateway: db.prepare<[number, string, number, number, number], { id: number }>(
      `SELECT id FROM inference_requests WHERE server_id = ? AND request_id = ? AND gw_seq IS NULL AND ts_ms BETWEEN ? AND ?
       ORDER BY abs(ts_ms - ?) LIMIT 1`,
    ),
    waitingForReplica: db.prepare<[number, string, number, number, number], { id: number }>(
      `SELECT id FROM inference_requests WHERE server_id = ? AND request_id = ? AND replica_ts IS NULL AND ts_ms BETWEEN ? AND ?
       ORDER BY abs(ts_ms - ?) LIMIT 1`,
    ),
    insertGateway: db.prepare(
      `INSERT INTO inference_requests (server_id, server_name, request_id, ts_ms, model, version, alias, caller, method, path, status,
         latency_ms, upstream, bytes_in, bytes_out, gateway_error, error, gw_epoch, gw_seq)
       VALUES (@serverId, @serverName, @requestId, @tsMs, @model, @version, @alias, @caller, @method, @path, @status,
         @latency, @upstream, @bytesIn, @bytesOut, @gatewayError, @gatewayError, @epoch, @seq)`,
    ),
    // The gateway knows what the caller saw (status, end-to-end latency, alias); the replica keeps input/output.
    joinGateway: db.prepare(
      `UPDATE inference_requests SET ts_ms = @tsMs, model = coalesce(@model, model), version = coalesce(@version, version), alias = @alias,
         caller = coalesce(@caller, caller), method = @method, path = @path, status = @status, latency_ms = @latency, upstream = @upstream,
         bytes_in = @bytesIn, bytes_out = @bytesOut, gateway_error = @gatewayError, error = coalesce(error, @gatewayError),
         gw_epoch = @epoch, gw_seq = @seq
       WHERE id = @id`,
    ),
    insertReplica: db.prepare(
      `INSERT INTO inference_requests (server_id, server_name, request_id, ts_ms, model, version, caller, method, path, status, latency_ms,
         replica_container, replica_id, replica_ts, replica_status, replica_latency_ms, input, output, error)
       VALUES (@serverId, @serverName, @requestId, @tsMs, @model, @version, @caller, @method, @path, @status, @latency,
         @container, @containerId, @dockerTs, @status, @latency, @input, @output, @error)`,
    ),
    joinReplica: db.prepare(
      `UPDATE inference_requests SET model = coalesce(model, @model), version = coalesce(version, @version), caller = coalesce(caller, @caller),
         replica_container = @container, replica_id = @containerId, replica_ts = @dockerTs, replica_status = @status,
         replica_latency_ms = @latency, input = @input, output = @output, error = coalesce(@error, error)
       WHERE id = @id`,
    ),
    cursor: db.prepare<[number, string], { position: string }>('SELECT position FROM ingest_cursors WHERE server_id = ? AND source = ?'),
    cursors: db.prepare<[number, string], { source: string; position: string }>(
      'SELECT source, position FROM ingest_cursors WHERE server_id = ? AND source LIKE ?',
    ),
    setCursor: db.prepare(
      `INSERT INTO ingest_cursors (server_id, source, position, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (server_id, source) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    ),
    addGap: db.prepare(
      `INSERT INTO ingest_gaps (server_id, server_name, source, after_ref, before_ref, missing, at_ms, detected_at, message)
       VALUES (@serverId, @serverName, @source, @after, @before, @missing, @atMs, @detectedAt, @message)`,
    ),
    gaps: db.prepare<[number, number, number], GapRow>(GAPS_SQL),
    // Oldest first along inference_scan (ts_ms, id); the inference_fts_delete trigger removes their FTS rows.
    deleteOlder: db.prepare<[number, number]>(
      'DELETE FROM inference_requests WHERE id IN (SELECT id FROM inference_requests WHERE ts_ms < ? ORDER BY ts_ms, id LIMIT ?)',
    ),
    deleteOldest: db.prepare<[number]>('DELETE FROM inference_requests WHERE id IN (SELECT id FROM inference_requests ORDER BY ts_ms, id LIMIT ?)'),
    deleteGapsOlder: db.prepare<[number]>('DELETE FROM ingest_gaps WHERE at_ms < ?'),
    // Two rowid look-ups: an upper bound of the row count that spares counting while it is under the bound.
    idSpan: db.prepare<[], { span: number | null }>('SELECT max(id) - min(id) + 1 AS span FROM inference_requests'),
    count: db.prepare<[], number>('SELECT count(*) FROM inference_requests').pluck(),
  };

  function addGateway(server: ServerRef, epoch: number, entries: GatewayEntry[]): number {
    let added = 0;
    for (const e of entries) {
      if (q.gatewaySeen.get(server.id, epoch, e.seq)) continue;
      const tsMs = Date.parse(e.ts);
      const values = {
        serverId: server.id,
        serverName: server.name,
        requestId: e.request_id,
        tsMs: Number.isFinite(tsMs) ? tsMs : now().getTime(),
        model: e.model ?? null,
        version: e.version ?? null,
        alias: e.alias ?? null,
        caller: e.caller ?? null,
        method: e.method ?? null,
        path: e.path ?? null,
        status: e.status ?? null,
        latency: e.latency_ms ?? null,
        upstream: e.upstream ?? null,
        bytesIn: e.bytes_in ?? null,
        bytesOut: e.bytes_out ?? null,
        gatewayError: e.error ?? null,
        epoch,
        seq: e.seq,
      };
      const waiting = q.waitingForGateway.get(server.id, e.request_id, values.tsMs - JOIN_WINDOW_MS, values.tsMs + JOIN_WINDOW_MS, values.tsMs);
      if (waiting) q.joinGateway.run({ ...values, id: waiting.id });
      else q.insertGateway.run(values);
      added++;
    }
    return added;
  }

  function addReplica(server: ServerRef, container: { id: string; name: string }, entries: ReplicaEntry[]): number {
    let added = 0;
    for (const e of entries) {
      if (q.replicaSeen.get(server.id, container.id, e.dockerTs)) continue;
      const parsed = Date.parse(e.ts || e.dockerTs);
      const tsMs = Number.isFinite(parsed) ? parsed : now().getTime();
      const values = {
        serverId: server.id,
        serverName: server.name,
        requestId: e.request_id,
        tsMs,
        model: e.model || null,
        version: e.model_version || null,
        caller: e.caller ?? null,
        method: e.method ?? null,
        path: e.path ?? null,
        status: e.status ?? null,
        latency: e.latency_ms ?? null,
        container: container.name,
        containerId: container.id,
        dockerTs: e.dockerTs,
        input: textOrNull(e.input),
        output: textOrNull(e.output),
        error: textOrNull(e.error),
      };
      const waiting = q.waitingForReplica.get(server.id, e.request_id, tsMs - JOIN_WINDOW_MS, tsMs + JOIN_WINDOW_MS, tsMs);
      if (waiting) q.joinReplica.run({ ...values, id: waiting.id });
      else q.insertReplica.run(values);
      added++;
    }
    return added;
  }

  /** Deletes at most `limit` records older than `olderThanMs`, oldest first (one statement: all or none). */
  function deleteOlderThan(olderThanMs: number, limit: number): number {
    q.deleteGapsOlder.run(olderThanMs);
    return q.deleteOlder.run(olderThanMs, limit).changes;
  }

  /** How many records there are beyond `maxRows`: counted only when the id span says there may be any. */
  function rowsBeyond(maxRows: number): number {
    if ((q.idSpan.get()?.span ?? 0) <= maxRows) return 0;
    return Math.max(0, q.count.get()! - maxRows);
  }

  return {
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    addGateway,
    addReplica,
    deleteOlderThan,
    rowsBeyond,
    deleteOldest: (limit: number): number => q.deleteOldest.run(limit).changes,
    cursor<T>(serverId: number, source: string): T | null {
      const row = q.cursor.get(serverId, source);
      return row ? (JSON.parse(row.position) as T) : null;
    },
    cursorsLike<T>(serverId: number, prefix: string): Array<{ source: string; position: T }> {
      return q.cursors.all(serverId, `${prefix}%`).map((r) => ({ source: r.source, position: JSON.parse(r.position) as T }));
    },
    setCursor(serverId: number, source: string, position: unknown): void {
      q.setCursor.run(serverId, source, JSON.stringify(position), now().toISOString());
    },
    addGap(gap: { server: ServerRef; source: string; after: string; before: string; missing: number | null; atMs: number; message: string }): void {
      q.addGap.run({
        serverId: gap.server.id,
        serverName: gap.server.name,
        source: gap.source,
        after: gap.after,
        before: gap.before,
        missing: gap.missing,
        atMs: gap.atMs,
        detectedAt: now().toISOString(),
        message: gap.message,
      });
    },
    gaps(fromMs: number, toMs: number, limit = 50): IngestGap[] {
      return q.gaps.all(fromMs, toMs, limit).map(toGap);
    },
    db,
  };
}
export type InferenceStore = ReturnType<typeof createInferenceStore>;
