import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../adapters/object-store';
import { postWebhook } from '../adapters/webhook';
import { renderDigest, type NotifyTarget, type OutcomeNotice } from '../core/notification';
import type { Logger } from '../runtime/logger';
import { countSend, underRateLimit, type HoldNotice } from '../runtime/notifier';
import type { StateLayout } from '../state/layout';

/**
 * Notices a chat robot's rate limit held back (DingTalk 20 a minute, then 10 minutes refused;
 * Lark 100): kept under the state prefix by whichever function decided, and sent by the
 * tracker as one digest message; deleted only once the robot took the digest.
 */

export const holdNoticeIn =
  (store: ObjectStore, layout: StateLayout): HoldNotice =>
  (notice) =>
    store.putText(layout.heldNoticeKey(notice.at, randomBytes(6).toString('hex')), JSON.stringify(notice));

/** one digest a run at most, naming this many notices (the rest counted) */
const DIGEST_NAMES = 30;

export async function sendHeldNotices(d: {
  store: ObjectStore;
  layout: StateLayout;
  target: NotifyTarget | undefined;
  log: Logger;
  deadline: number;
}): Promise<void> {
  if (!d.target) return;
  const { objects } = await d.store.listPage(d.layout.heldNoticesPrefix, undefined, 1000);
  if (!objects.length || !underRateLimit(d.target, Date.now())) return;
  const named: OutcomeNotice[] = [];
  const unreadable: string[] = [];
  for (const o of objects.slice(0, DIGEST_NAMES)) {
    try {
      named.push(JSON.parse((await d.store.getText(o.key)) ?? '') as OutcomeNotice);
    } catch {
      unreadable.push(o.key);
    }
  }
  countSend(d.target, Date.now());
  const more = objects.length - named.length;
  const r = await postWebhook(d.target, renderDigest(d.target.format, named, more), { deadline: d.deadline });
  const fields = {
    receiver: r.origin,
    notices: named.length,
    more,
    status: r.status,
    ...(r.code !== undefined ? { robotCode: r.code } : {}),
  };
  if (!r.ok) return d.log.warn({ event: 'notify-digest-failed', ...fields, reason: r.error ?? `HTTP ${r.status}` });
  // the counted rest stays: the next run's digest names them
  await d.store.deleteMany([...objects.slice(0, DIGEST_NAMES).map((o) => o.key)]);
  d.log.info({ event: 'notify-digest-sent', ...fields, unreadable: unreadable.length });
}
