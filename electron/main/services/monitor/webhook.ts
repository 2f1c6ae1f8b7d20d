import { setTimeout as sleep } from 'node:timers/promises';

export interface WebhookOptions {
  timeoutMs?: number;
  /** Delays before the 2nd, 3rd… attempt; its length + 1 is the number of attempts. */
  backoffMs?: number[];
  fetch?: typeof fetch;
}

export interface Delivery {
  ok: boolean;
  attempts: number;
  status: number | null;
  error: string | null;
}

/** POSTs JSON to a webhook with a per-attempt timeout and a bounded number of retries (5xx, 429 and network errors). */
export async function postWebhook(url: string, payload: unknown, options: WebhookOptions = {}): Promise<Delivery> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const backoff = options.backoffMs ?? [1000, 3000];
  const doFetch = options.fetch ?? fetch;
  const body = JSON.stringify(payload);
  let last: Delivery = { ok: false, attempts: 0, status: null, error: null };
  for (let attempt = 1; attempt <= backoff.length + 1; attempt++) {
    try {
      const response = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'berth-alerts/1' },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      last = { ok: response.ok, attempts: attempt, status: response.status, error: response.ok ? null : `HTTP ${response.status}` };
      if (response.ok || (response.status < 500 && response.status !== 429)) return last;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = { ok: false, attempts: attempt, status: null, error: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message) };
    }
    if (attempt <= backoff.length) await sleep(backoff[attempt - 1]);
  }
  return last;
}
