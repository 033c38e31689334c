import { readRobotAnswer, signedRequest } from '../core/robot-protocol';
import type { NotifyTarget } from '../core/notification';

/**
 * POST a notification, a few tries within the time left, signed afresh each try (the robots
 * refuse an old timestamp). The URL and the signature carry the robot's secrets, so nothing
 * here ever puts them in an error or a log: callers get the origin only.
 */

export interface WebhookResult {
  ok: boolean;
  attempts: number;
  status?: number;
  /** the robot's own refusal code (DingTalk errcode, Lark code) */
  code?: number;
  /** the robot throttles this sender (its rate limit) */
  throttled?: boolean;
  error?: string;
  /** scheme and host, for the log */
  origin: string;
}

export async function postWebhook(
  target: Pick<NotifyTarget, 'url' | 'format' | 'secret'>,
  body: string,
  o: { deadline: number; attempts?: number; timeoutMs?: number; now?: () => number },
): Promise<WebhookResult> {
  const now = o.now ?? Date.now;
  const origin = new URL(target.url).origin;
  let last: WebhookResult = { ok: false, attempts: 0, origin, error: 'no time left' };
  for (let attempt = 1; attempt <= (o.attempts ?? 3); attempt++) {
    const left = o.deadline - now();
    if (left < 100) break;
    let retryable = true;
    try {
      const request = signedRequest(target.format, target.url, body, target.secret, Date.now());
      const res = await fetch(request.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: request.body,
        signal: AbortSignal.timeout(Math.min(o.timeoutMs ?? 5_000, left)),
      });
      const answer = readRobotAnswer(target.format, res.status, await res.text().catch(() => ''));
      last = { ok: answer.ok, attempts: attempt, status: res.status, origin, code: answer.code, throttled: answer.throttled };
      if (!answer.ok) last.error = answer.message;
      retryable = answer.retryable;
    } catch (err) {
      const name = (err as Error).name;
      last = { ok: false, attempts: attempt, origin, error: name === 'TimeoutError' ? 'timeout' : name };
    }
    // a bad token, a bad signature or a throttle will not change on a retry now
    if (last.ok || !retryable) return last;
    await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, Math.max(0, o.deadline - now() - 100))));
  }
  return last;
}
