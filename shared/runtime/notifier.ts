import { postWebhook } from '../adapters/webhook';
import { NOTIFY_OUTCOMES, renderNotice, type NotifyTarget, type OutcomeNotice } from '../core/notification';
import type { Logger } from './logger';

export type Notify = (notice: Omit<OutcomeNotice, 'at'>) => Promise<void>;
/** keep a notice for the tracker's digest (the robot's rate limit held it back) */
export type HoldNotice = (notice: OutcomeNotice) => Promise<void>;

/**
 * This instance's sends in the last minute, kept with its configuration (one target object
 * per instance). A robot's limit is per robot, so a count per instance is a floor; the
 * robot's own throttle answer covers the rest.
 */
const sends = new WeakMap<NotifyTarget, number[]>();

export function underRateLimit(target: NotifyTarget, now: number): boolean {
  const sentAt = sends.get(target) ?? [];
  sends.set(target, sentAt);
  while (sentAt.length && sentAt[0]! <= now - 60_000) sentAt.shift();
  return sentAt.length < target.perMinute;
}

export const countSend = (target: NotifyTarget, now: number): void => void sends.get(target)?.push(now);

/**
 * Sends what importer.yaml's `notify.on` asks for. Past the robot's rate limit (this
 * instance's count, or the robot's own throttle answer) the notice is held for the tracker's
 * digest instead of lost; a failure to notify is logged, never thrown.
 */
export function createNotifier(target: NotifyTarget | undefined, log: Logger, deadline: number, hold?: HoldNotice): Notify {
  if (!target) return async () => undefined;
  return async (n) => {
    if (!(NOTIFY_OUTCOMES as readonly string[]).includes(n.outcome) || !target.on.includes(n.outcome)) return;
    const notice: OutcomeNotice = { ...n, at: new Date().toISOString() };
    const base = { bucket: n.bucket, key: n.key, outcome: n.outcome, receiver: new URL(target.url).origin };
    if (hold && !underRateLimit(target, Date.now())) return held(notice, 'rate-limit', hold, log, base);
    countSend(target, Date.now());
    const r = await postWebhook(target, renderNotice(target.format, notice), { deadline });
    const fields = { ...base, status: r.status, ...(r.code !== undefined ? { robotCode: r.code } : {}), attempts: r.attempts };
    if (r.ok) return log.info({ event: 'notified', ...fields });
    if (r.throttled && hold) return held(notice, 'robot-throttled', hold, log, fields);
    log.warn({ event: 'notify-failed', ...fields, reason: r.error ?? `HTTP ${r.status}` });
  };
}

async function held(notice: OutcomeNotice, why: string, hold: HoldNotice, log: Logger, fields: object): Promise<void> {
  try {
    await hold(notice);
    log.info({ event: 'notify-held', ...fields, reason: why });
  } catch (err) {
    log.warn({ event: 'notify-failed', ...fields, reason: `${why}, and holding it failed: ${(err as Error).message}` });
  }
}
