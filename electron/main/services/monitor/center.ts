import { on } from 'node:events';
import { EventEmitter } from 'node:events';
import type { Alert, AlertEvent, AlertKind } from '../../../../shared/monitor';
import type { AlertStore, EventLog, WebhookStore } from './alerts';
import { resolvedMessage, type Condition } from './detect';
import { postWebhook, type WebhookOptions } from './webhook';

export type AlertChange = { type: 'opened' | 'resolved'; alert: Alert };

/**
 * A condition raised with `webhook: false` keeps the flag in its alert's detail, so its resolution (possibly by
 * another Berth process, after a restart) is not posted either.
 */
function withWebhookFlag(condition: Condition): Condition {
  if (condition.webhook !== false) return condition;
  const detail = condition.detail && typeof condition.detail === 'object' && !Array.isArray(condition.detail) ? condition.detail : condition.detail === undefined ? {} : { value: condition.detail };
  return { ...condition, detail: { ...detail, webhook: false } };
}

/** Whether an alert's changes go to the group's webhooks (not for alerts the server agents sent themselves). */
export function postsWebhook(alert: Alert): boolean {
  const detail = alert.detail as { webhook?: unknown } | null;
  return !(detail && typeof detail === 'object' && detail.webhook === false);
}

/** What the Electron shell (desktop notifications) or any other sink implements to hear about alerts. */
export interface AlertNotifier {
  notify(change: AlertChange): void;
}

export interface AlertCenterDeps {
  alerts: AlertStore;
  events: EventLog;
  webhooks: WebhookStore;
  /** The groups a server belongs to (their webhooks are called for its alerts). */
  groupsOfServer(serverId: number): Array<{ id: number; name: string }>;
  webhook?: WebhookOptions;
  now?: () => Date;
}

/**
 * Turns conditions into alerts (open once, refresh, resolve with a message), and fans every change out to the
 * event trail, listeners (UI stream, desktop notifier) and the group's webhook.
 */
export function createAlertCenter(deps: AlertCenterDeps) {
  const now = deps.now ?? (() => new Date());
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const deliveries = new Set<Promise<void>>();
  let closed = false;

  function publish(change: AlertChange, serverId: number | null): void {
    deps.events.record({
      kind: `alert.${change.type}`,
      subject: change.alert.subject,
      message: change.type === 'opened' ? change.alert.message : (change.alert.resolvedMessage ?? 'resolved'),
      detail: { kind: change.alert.kind, severity: change.alert.severity },
      alertId: change.alert.id,
    });
    emitter.emit('change', change);
    if (serverId === null || !postsWebhook(change.alert)) return;
    const groups = deps.groupsOfServer(serverId);
    const hooks = deps.webhooks.list().filter((w) => groups.some((g) => g.id === w.groupId));
    for (const hook of hooks) {
      const payload = { event: `alert.${change.type}`, group: hook.group, alert: change.alert, sentAt: now().toISOString() };
      const delivery = postWebhook(hook.url, payload, deps.webhook).then((result) => {
        if (closed) return;
        deps.events.record({
          kind: result.ok ? 'webhook.delivered' : 'webhook.failed',
          subject: hook.group,
          message: result.ok
            ? `Alert ${change.alert.id} (${change.type}) delivered to the ${hook.group} webhook`
            : `The ${hook.group} webhook did not take alert ${change.alert.id} after ${result.attempts} attempts: ${result.error}`,
          detail: { url: hook.url, status: result.status, attempts: result.attempts },
          actor: 'berth-webhook',
          alertId: change.alert.id,
        });
      }).catch(() => undefined);
      deliveries.add(delivery);
      void delivery.finally(() => deliveries.delete(delivery));
    }
  }

  /**
   * Makes the open alerts of one server match `conditions`, for the alert kinds this poll could judge (a server
   * that does not answer says nothing about its replicas). `present` tells whether a subject still exists.
   */
  function reconcile(
    serverId: number,
    kinds: readonly AlertKind[] | 'all',
    conditions: Condition[],
    present: (subject: string) => boolean = () => true,
  ): { opened: Alert[]; resolved: Alert[] } {
    const opened: Alert[] = [];
    const resolved: Alert[] = [];
    const active = new Set(conditions.map((c) => `${c.kind}\u0000${c.subject}`));
    for (const condition of conditions) {
      const { alert, opened: isNew } = deps.alerts.raise(serverId, withWebhookFlag(condition));
      if (isNew) {
        opened.push(alert);
        publish({ type: 'opened', alert }, serverId);
      }
    }
    for (const alert of deps.alerts.openOfServer(serverId)) {
      if (kinds !== 'all' && !kinds.includes(alert.kind)) continue;
      if (active.has(`${alert.kind}\u0000${alert.subject}`)) continue;
      const gone = !present(alert.subject);
      const done = deps.alerts.resolve(alert.id, resolvedMessage(alert.kind, alert.subject, alert.openedAt, now().getTime(), gone));
      if (done) {
        resolved.push(done);
        publish({ type: 'resolved', alert: done }, serverId);
      }
    }
    return { opened, resolved };
  }

  /**
   * Like `reconcile`, for conditions that come from several servers at once (the server agents' incidents): the open
   * alerts of the servers in `scope`, of `kinds`, are made to match `conditions` as one set, so an alert reported by
   * another server's agent than last time is kept rather than resolved and opened again.
   */
  function reconcileMany(
    scope: ReadonlySet<number>,
    kinds: readonly AlertKind[] | 'all',
    conditions: Array<{ serverId: number; condition: Condition }>,
  ): { opened: Alert[]; resolved: Alert[] } {
    const opened: Alert[] = [];
    const resolved: Alert[] = [];
    const active = new Set(conditions.map(({ condition: c }) => `${c.kind}\u0000${c.subject}`));
    for (const { serverId, condition } of conditions) {
      const { alert, opened: isNew } = deps.alerts.raise(serverId, withWebhookFlag(condition));
      if (isNew) {
        opened.push(alert);
        publish({ type: 'opened', alert }, serverId);
      }
    }
    for (const alert of deps.alerts.openAlerts()) {
      if (alert.serverId === null || !scope.has(alert.serverId)) continue;
      if (kinds !== 'all' && !kinds.includes(alert.kind)) continue;
      if (active.has(`${alert.kind}\u0000${alert.subject}`)) continue;
      const done = deps.alerts.resolve(alert.id, resolvedMessage(alert.kind, alert.subject, alert.openedAt, now().getTime()));
      if (done) {
        resolved.push(done);
        publish({ type: 'resolved', alert: done }, alert.serverId);
      }
    }
    return { opened, resolved };
  }

  /** Resolves the open alerts of servers that are no longer registered. */
  function resolveRemoved(registered: Set<number>): void {
    for (const alert of deps.alerts.openAlerts()) {
      if (alert.serverId === null || registered.has(alert.serverId)) continue;
      const done = deps.alerts.resolve(alert.id, `${alert.subject}: the server was removed from Berth`);
      if (done) publish({ type: 'resolved', alert: done }, null);
    }
  }

  function subscribe(listener: (change: AlertChange) => void): () => void {
    emitter.on('change', listener);
    return () => emitter.off('change', listener);
  }

  /** The UI stream: the open alerts first, then every change. */
  async function watch(emit: (event: AlertEvent) => void, signal: AbortSignal): Promise<void> {
    emit({ type: 'snapshot', open: deps.alerts.openAlerts() });
    try {
      for await (const [change] of on(emitter, 'change', { signal })) emit(change as AlertChange);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  return {
    reconcile,
    reconcileMany,
    resolveRemoved,
    subscribe,
    addNotifier: (notifier: AlertNotifier) => subscribe((change) => notifier.notify(change)),
    watch,
    /** Stops recording deliveries that finish after Berth closed its database. */
    close: () => void (closed = true),
    /** Resolves when every webhook delivery started so far has finished (tests, shutdown). */
    idle: () => Promise.all([...deliveries]).then(() => undefined),
  };
}
export type AlertCenter = ReturnType<typeof createAlertCenter>;
