import {
  AuditFilter,
  AuditInput,
  type AuditEntryView,
  type AuditRecordBody,
  type AuditVerification,
  type ChainBreak,
  type ChainCheck,
} from '../../../../../shared/access';
import { BerthError } from '../../../../../shared/errors';
import type { Db } from '../../store/database';
import type { SshConnection } from '../../transport/ssh';
import type { ServerLayout } from '../../remote/layout';
import { appendAudit, readAuditFile } from '../remote';
import { canonical, GENESIS, linkHash, parseAuditFile, verifyLinks, type Link } from './chain';

interface AuditRow {
  seq: number;
  entry: string;
  prev: string;
  hash: string;
}

interface DeliveryRow {
  seq: number;
  server_id: number;
  server_name: string;
  state: 'pending' | 'delivered' | 'failed';
  remote_seq: number | null;
  remote_hash: string | null;
  error: string | null;
}

export interface AuditServer {
  id: number;
  name: string;
}

export interface AuditDeps {
  db: Db;
  /** The registered servers (each one keeps a copy of the log). */
  servers: () => AuditServer[];
  connection: (serverId: number) => Promise<SshConnection>;
  /** Forgets a connection that failed, so the next delivery reconnects. */
  invalidate?: (serverId: number) => void;
  layout: ServerLayout;
  /** Who acts, from which machine, when a caller does not say. */
  actor: () => { actor: string; machine: string };
  now?: () => Date;
}

/**
 * The audit log: append-only and hash-chained in SQLite, and appended (`>>`, chained there too) to
 * <berthDir>/audit/audit.jsonl on every server. A server that cannot be reached gets its missing entries, in
 * order, the next time anything is recorded (or on sync()).
 */
export function createAuditService(deps: AuditDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const q = {
    last: db.prepare<[], AuditRow>('SELECT seq, entry, prev, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
    all: db.prepare<[], AuditRow>('SELECT seq, entry, prev, hash FROM audit_log ORDER BY rowid'),
    get: db.prepare<[number], AuditRow>('SELECT seq, entry, prev, hash FROM audit_log WHERE seq = ?'),
    insert: db.prepare('INSERT INTO audit_log (seq, entry, prev, hash) VALUES (?, ?, ?, ?)'),
    highest: db.prepare<[], { seq: number | null }>("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'"),
    insertDelivery: db.prepare(
      "INSERT INTO audit_deliveries (seq, server_id, server_name, state, updated_at) VALUES (?, ?, ?, 'pending', ?)",
    ),
    deliveries: db.prepare<[number], DeliveryRow>('SELECT * FROM audit_deliveries WHERE seq = ? ORDER BY server_name'),
    undelivered: db.prepare<[number], DeliveryRow>(
      "SELECT * FROM audit_deliveries WHERE server_id = ? AND state != 'delivered' ORDER BY seq",
    ),
    delivered: db.prepare<[number], DeliveryRow>(
      "SELECT * FROM audit_deliveries WHERE server_id = ? AND state = 'delivered' ORDER BY remote_seq",
    ),
    maxDelivered: db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM audit_deliveries'),
    markDelivered: db.prepare(
      "UPDATE audit_deliveries SET state = 'delivered', remote_seq = ?, remote_hash = ?, error = NULL, updated_at = ? WHERE seq = ? AND server_id = ?",
    ),
    markFailed: db.prepare("UPDATE audit_deliveries SET state = 'failed', error = ?, updated_at = ? WHERE seq = ? AND server_id = ?"),
  };

  /** Deliveries to one server run one after another, so its file receives entries in order. */
  const queues = new Map<number, Promise<void>>();

  async function deliverTo(server: AuditServer): Promise<void> {
    const pending = q.undelivered.all(server.id);
    if (!pending.length) return;
    let ssh: SshConnection;
    try {
      ssh = await deps.connection(server.id);
    } catch (err) {
      const message = BerthError.from(err).message;
      for (const d of pending) q.markFailed.run(message, now().toISOString(), d.seq, server.id);
      return;
    }
    for (const d of pending) {
      const row = q.get.get(d.seq)!;
      try {
        const remote = await appendAudit(ssh, deps.layout, row.entry);
        q.markDelivered.run(remote.seq, remote.hash, now().toISOString(), d.seq, server.id);
      } catch (err) {
        const error = BerthError.from(err);
        if (error.kind === 'SshUnreachable' || /took longer/.test(error.message)) deps.invalidate?.(server.id);
        // Later entries wait behind this one, so the server's file never gets them out of order.
        for (const rest of pending.filter((p) => p.seq >= d.seq)) q.markFailed.run(error.message, now().toISOString(), rest.seq, server.id);
        return;
      }
    }
  }

  function enqueue(server: AuditServer): Promise<void> {
    const previous = queues.get(server.id) ?? Promise.resolve();
    const next = previous.then(() => deliverTo(server)).catch(() => {});
    queues.set(server.id, next);
    next.finally(() => queues.get(server.id) === next && queues.delete(server.id));
    return next;
  }

  function view(row: AuditRow): AuditEntryView {
    const body = JSON.parse(row.entry) as AuditRecordBody;
    return {
      seq: row.seq,
      at: body.at,
      actor: body.actor,
      machine: body.machine,
      action: body.action,
      target: body.target,
      result: body.result,
      details: body.details ?? {},
      hash: row.hash,
      prev: row.prev,
      deliveries: q.deliveries.all(row.seq).map((d) => ({
        serverId: d.server_id,
        server: d.server_name,
        state: d.state,
        remoteSeq: d.remote_seq,
        error: d.error,
      })),
    };
  }

  /** Stores the entry locally (chained), then appends it to every target server's file. */
  function append(input: AuditInput): { seq: number; targets: AuditServer[] } {
    const parsed = AuditInput.parse(input);
    const who = deps.actor();
    const body: AuditRecordBody = {
      v: 1,
      at: now().toISOString(),
      actor: parsed.actor ?? who.actor,
      machine: parsed.machine ?? who.machine,
      action: parsed.action,
      target: parsed.target,
      result: parsed.result,
      details: parsed.details ?? {},
    };
    const entry = canonical(body);
    const servers = deps.servers();
    const targets = parsed.serverIds ? servers.filter((s) => parsed.serverIds!.includes(s.id)) : servers;
    const seq = db.transaction(() => {
      const last = q.last.get();
      const seq = (last?.seq ?? 0) + 1;
      const prev = last?.hash ?? GENESIS;
      q.insert.run(seq, entry, prev, linkHash(seq, prev, JSON.parse(entry)));
      for (const s of targets) q.insertDelivery.run(seq, s.id, s.name, now().toISOString());
      return seq;
    })();
    return { seq, targets };
  }

  async function record(input: AuditInput): Promise<AuditEntryView> {
    const { seq, targets } = append(input);
    await Promise.all(targets.map(enqueue));
    return view(q.get.get(seq)!);
  }

  /**
   * Runs an action and records it with its result: `ok`, or `failed` with the error message (then rethrows).
   * `describe` may add details from the action's value.
   */
  async function around<T>(
    input: Omit<AuditInput, 'result'>,
    action: () => Promise<T> | T,
    describe?: (value: T) => Partial<Pick<AuditInput, 'details' | 'result' | 'target'>>,
  ): Promise<T> {
    try {
      const value = await action();
      const extra = describe?.(value) ?? {};
      void record({ ...input, ...extra, result: extra.result ?? 'ok', details: { ...input.details, ...extra.details } }).catch(() => {});
      return value;
    } catch (err) {
      const error = BerthError.from(err);
      void record({ ...input, result: 'failed', details: { ...input.details, error: `${error.kind}: ${error.message}` } }).catch(() => {});
      throw err;
    }
  }

  function list(filter: AuditFilter = {}): AuditEntryView[] {
    const f = AuditFilter.parse(filter);
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: f.limit };
    if (f.actor) (where.push("json_extract(entry, '$.actor') LIKE @actor"), (params.actor = `%${f.actor}%`));
    if (f.action) (where.push("(json_extract(entry, '$.action') = @action OR json_extract(entry, '$.action') LIKE @actionPrefix)"), (params.action = f.action), (params.actionPrefix = `${f.action}.%`));
    if (f.target) (where.push("json_extract(entry, '$.target') LIKE @target"), (params.target = `%${f.target}%`));
    if (f.since) (where.push("json_extract(entry, '$.at') >= @since"), (params.since = new Date(f.since).toISOString()));
    if (f.until) (where.push("json_extract(entry, '$.at') <= @until"), (params.until = new Date(f.until).toISOString()));
    const sql = `SELECT seq, entry, prev, hash FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`;
    return db.prepare<Record<string, unknown>, AuditRow>(sql).all(params).map(view);
  }

  function verifyLocal(): ChainCheck {
    const rows = q.all.all();
    const check = verifyLinks(rows.map((r) => ({ seq: r.seq, prev: r.prev, hash: r.hash, entry: safeParse(r.entry) })));
    // A chain cannot see its own tail cut off; SQLite's sequence and the deliveries remember how far it went.
    const lastSeq = rows.at(-1)?.seq ?? 0;
    const highest = Math.max(q.highest.get()?.seq ?? 0, q.maxDelivered.get()?.seq ?? 0);
    if (highest > lastSeq) {
      check.breaks.push({
        position: rows.length + 1,
        seq: lastSeq + 1,
        reason: `entries ${lastSeq + 1}–${highest} were removed from the end of the log`,
      });
      check.ok = false;
    }
    return check;
  }

  /** Checks one server's file on its own and against what this Berth delivered there. */
  async function verifyServer(server: AuditServer): Promise<AuditVerification['servers'][number]> {
    let text: string;
    try {
      text = await readAuditFile(await deps.connection(server.id), deps.layout);
    } catch (err) {
      return { serverId: server.id, server: server.name, ok: false, entries: 0, breaks: [], error: BerthError.from(err).message };
    }
    const links = parseAuditFile(text);
    const check = verifyLinks(links);
    const breaks: ChainBreak[] = [...check.breaks];
    for (const d of q.delivered.all(server.id)) {
      const line = links[d.remote_seq! - 1];
      const local = q.get.get(d.seq);
      if (!line) {
        breaks.push({ position: d.remote_seq!, seq: d.remote_seq, reason: `entry ${d.remote_seq} (Berth's #${d.seq}) is missing: the file was cut short` });
      } else if ('unreadable' in line || line.hash !== d.remote_hash || (local && canonical(line.entry) !== local.entry)) {
        if (!breaks.some((b) => b.position === d.remote_seq)) {
          breaks.push({ position: d.remote_seq!, seq: d.remote_seq, reason: `entry ${d.remote_seq} differs from the one Berth appended (its #${d.seq})` });
        }
      }
    }
    breaks.sort((a, b) => a.position - b.position);
    return { serverId: server.id, server: server.name, ok: breaks.length === 0, entries: links.length, breaks };
  }

  async function verify(): Promise<AuditVerification> {
    const local = verifyLocal();
    const servers = await Promise.all(deps.servers().map(verifyServer));
    return { local, servers, ok: local.ok && servers.every((s) => s.ok), checkedAt: now().toISOString() };
  }

  /** Sends every entry a server missed (it was down, or the connection failed) in order. */
  async function sync(): Promise<void> {
    await Promise.all(deps.servers().map(enqueue));
  }

  return { record, around, list, verify, verifyLocal, verifyServer, sync };
}
export type AuditService = ReturnType<typeof createAuditService>;

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export type { Link };
