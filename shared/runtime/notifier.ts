import { postWebhook } from '../adapters/webhook';
import { NOTIFY_OUTCOMES, renderNotice, webhookUrl, type NotifyConfig, type OutcomeNotice } from '../core/notification';
import type { Logger } from './logger';

export type Notify = (notice: Omit<OutcomeNotice, 'at'>) => Promise<void>;

/** Sends what importer.yaml's `notify.on` asks for; a failure to notify is logged, never thrown. */
export function createNotifier(config: NotifyConfig | undefined, env: NodeJS.ProcessEnv, log: Logger, deadline: number): Notify {
  const url = webhookUrl(config, env);
  if (!config || !url) return async () => undefined;
  return async (notice) => {
    if (!(NOTIFY_OUTCOMES as readonly string[]).includes(notice.outcome) || !config.on.includes(notice.outcome)) return;
    const body = renderNotice(config.format, { ...notice, at: new Date().toISOString() });
    const r = await postWebhook(url, body, { deadline });
    const fields = {
      event: r.ok ? 'notified' : 'notify-failed',
      bucket: notice.bucket,
      key: notice.key,
      outcome: notice.outcome,
      receiver: r.origin,
      status: r.status,
      attempts: r.attempts,
    };
    if (r.ok) log.info(fields);
    else log.warn({ ...fields, reason: r.error ?? `HTTP ${r.status}` });
  };
}
