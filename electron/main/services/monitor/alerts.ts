import type { Alert, AlertKind, BerthEvent, Webhook } from '../../../../shared/monitor';
import type { Db } from '../store/database';
import type { Condition } from './detect';

interface AlertRow {
  id: number;
  kind: AlertKind;
  subject: string;
  severity: 'critical' | 'warning';
  server_id: number | null;
  message: string;
  detail: string;
  opened_at: string;
  last_seen_at: string;
  resolved_at: string | null;
  resolved_message: string | null;
}

const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  kind: r.kind,
  subject: r.subject,
  severity: r.severity,
  serverId: r.server_id,
  message: r.message,
  detail: JSON.parse(r.detail),
  openedAt: r.opened_at,
  lastSeenAt: r.last_seen_at,
  resolvedAt: r.resolved_at,
  resolvedMessage: r.resolved_message,
});

/** Alerts in SQLite: at most one open alert per (kind, subject), resolved rows kept as history. */
export function createAlertStore(db: Db, now: () => Date = () => new Date()) {
  const q = {
    open: db.prepare<[string, string], AlertRow>('SELECT * FROM alerts WHERE kind = ? AND subject = ? AND resolved_at IS NULL'),
    openAll: db.prepare<[], AlertRow>('SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY opened_at DESC, id DESC'),
    openOfServer: db.prepare<[number], AlertRow>('SELECT * FROM alerts WHERE server_id = ? AND resolved_at IS NULL'),
    all: db.prepare<[number], AlertRow>('SELECT * FROM alerts ORDER BY id DESC LIMIT ?'),
    get: db.prepare<[number], AlertRow>('SELECT * FROM alerts WHERE id = ?'),
    insert: db.prepare<Record<string, unknown>, AlertRow>(
      `INSERT INTO alerts (kind, subject, severity, server_id, message, detail, opened_at, last_seen_at)
       VALUES (@kind, @subject, @severity, @serverId, @message, @detail, @at, @at) RETURNING *`,
    ),
    touch: db.prepare('UPDATE alerts SET last_seen_at = ?, message = ?, detail = ? WHERE id = ?'),
    resolve: db.prepare('UPDATE alerts SET resolved_at = ?, resolved_message = ? WHERE id = ? AND resolved_at IS NULL'),
  };

  return {
    /** Opens the alert for a condition, or refreshes the open one; `opened` is true only for a new alert. */
    raise(serverId: number | null, condition: Condition): { alert: Alert; opened: boolean } {
      const at = now().toISOString();
      const detail = JSON.stringify(condition.detail ?? null);
      const existing = q.open.get(condition.kind, condition.subject);
      if (existing) {
        q.touch.run(at, condition.message, detail, existing.id);
        return { alert: toAlert(q.get.get(existing.id)!), opened: false };
      }
      const row = q.insert.get({ kind: condition.kind, subject: condition.subject, severity: condition.severity, serverId, message: condition.message, detail, at })!;
      return { alert: toAlert(row), opened: true };
    },
    resolve(id: number, message: string): Alert | null {
      const changed = q.resolve.run(now().toISOString(), message, id).changes;
      return changed ? toAlert(q.get.get(id)!) : null;
    },
    openAlerts: () => q.openAll.all().map(toAlert),
    openOfServer: (serverId: number) => q.openOfServer.all(serverId).map(toAlert),
    list: (state: 'open' | 'all', limit: number) => (state === 'open' ? q.openAll.all().slice(0, limit) : q.all.all(limit)).map(toAlert),
  };
}
export type AlertStore = ReturnType<typeof createAlertStore>;

export interface NewEvent {
  kind: string;
  subject?: string | null;
  message: string;
  detail?: unknown;
  actor?: string;
  alertId?: number | null;
}

/** The `events` table: every alert and automatic action, with who did it (the monitor, a webhook, ingest). */
export function createEventLog(db: Db, now: () => Date = () => new Date()) {
  const insert = db.prepare<Record<string, unknown>, { id: number }>(
    'INSERT INTO events (at, kind, subject, message, detail, actor, alert_id) VALUES (@at, @kind, @subject, @message, @detail, @actor, @alertId) RETURNING id',
  );
  const list = db.prepare<[number, number], { id: number; at: string; kind: string; subject: string | null; message: string; detail: string; actor: string; alert_id: number | null }>(
    'SELECT * FROM events WHERE id < ? ORDER BY id DESC LIMIT ?',
  );
  return {
    record(event: NewEvent): number {
      return insert.get({
        at: now().toISOString(),
        kind: event.kind,
        subject: event.subject ?? null,
        message: event.message,
        detail: JSON.stringify(event.detail ?? null),
        actor: event.actor ?? 'berth-monitor',
        alertId: event.alertId ?? null,
      })!.id;
    },
    list(limit: number, beforeId?: number): BerthEvent[] {
      return list.all(beforeId ?? Number.MAX_SAFE_INTEGER, limit).map((e) => ({
        id: e.id,
        at: e.at,
        kind: e.kind,
        subject: e.subject,
        message: e.message,
        detail: JSON.parse(e.detail),
        actor: e.actor,
        alertId: e.alert_id,
      }));
    },
  };
}
export type EventLog = ReturnType<typeof createEventLog>;

/** One optional webhook URL per server group. */
export function createWebhookStore(db: Db, now: () => Date = () => new Date()) {
  const list = db.prepare<[], Webhook>(
    'SELECT w.group_id AS groupId, g.name AS "group", w.url FROM group_webhooks w JOIN server_groups g ON g.id = w.group_id ORDER BY g.name',
  );
  const set = db.prepare(
    'INSERT INTO group_webhooks (group_id, url, updated_at) VALUES (?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at',
  );
  const remove = db.prepare('DELETE FROM group_webhooks WHERE group_id = ?');
  return {
    list: () => list.all(),
    set(groupId: number, url: string | null): Webhook[] {
      if (url === null) remove.run(groupId);
      else set.run(groupId, url, now().toISOString());
      return list.all();
    },
  };
}
export type WebhookStore = ReturnType<typeof createWebhookStore>;
