/**
 * POST a notification, a few tries within the time left. The URL carries the receiver's
 * secret (a robot's access token), so nothing here ever puts it in an error or a log:
 * callers get the origin only.
 */

export interface WebhookResult {
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
  /** scheme and host, for the log */
  origin: string;
}

export async function postWebhook(
  url: string,
  body: string,
  o: { deadline: number; attempts?: number; timeoutMs?: number; now?: () => number },
): Promise<WebhookResult> {
  const now = o.now ?? Date.now;
  const origin = new URL(url).origin;
  let last: WebhookResult = { ok: false, attempts: 0, origin, error: 'no time left' };
  for (let attempt = 1; attempt <= (o.attempts ?? 3); attempt++) {
    const left = o.deadline - now();
    if (left < 100) break;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
        signal: AbortSignal.timeout(Math.min(o.timeoutMs ?? 5_000, left)),
      });
      await res.arrayBuffer().catch(() => undefined);
      last = { ok: res.ok, attempts: attempt, status: res.status, origin };
      // a 4xx will not change on a retry (bad token, bad body)
      if (res.ok || (res.status >= 400 && res.status < 500 && res.status !== 429)) return last;
    } catch (err) {
      const name = (err as Error).name;
      last = { ok: false, attempts: attempt, origin, error: name === 'TimeoutError' ? 'timeout' : name };
    }
    await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, Math.max(0, o.deadline - now() - 100))));
  }
  return last;
}
