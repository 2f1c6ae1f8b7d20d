import { Notification } from 'electron';
import type { AlertNotifier } from './services/monitor/center';

/** Alerts as desktop notifications: one when a problem opens, one when it clears. */
export function desktopNotifier(): AlertNotifier {
  return {
    notify({ type, alert }) {
      if (!Notification.isSupported()) return;
      const title = type === 'opened' ? `Berth: ${alert.subject}` : `Berth: ${alert.subject} recovered`;
      const body = type === 'opened' ? alert.message : (alert.resolvedMessage ?? 'The problem cleared.');
      new Notification({ title, body, urgency: alert.severity === 'critical' && type === 'opened' ? 'critical' : 'normal' }).show();
    },
  };
}
