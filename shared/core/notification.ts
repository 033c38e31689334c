import * as z from 'zod/mini';

/**
 * Notifications on terminal outcomes (importer.yaml `notify:`), rendered for the receiver:
 * DingTalk and Lark custom robots, or plain JSON. Pure: the webhook adapter sends.
 */

export const NOTIFY_OUTCOMES = ['available', 'failed', 'rejected', 'deleted'] as const;
export type NotifyOutcome = (typeof NOTIFY_OUTCOMES)[number];

export const notifySchema = z.strictObject({
  /** the URL, or `env:NAME` to read it from the function's environment (keeps a robot token out of the file) */
  webhook: z.string().check(z.minLength(1)),
  on: z._default(z.array(z.enum(NOTIFY_OUTCOMES)).check(z.minLength(1)), ['failed', 'rejected']),
  format: z._default(z.enum(['json', 'dingtalk', 'lark']), 'json'),
});
export type NotifyConfig = z.infer<typeof notifySchema>;

export interface OutcomeNotice {
  outcome: NotifyOutcome;
  bucket: string;
  key: string;
  imageId?: string;
  errorCode?: string;
  reason?: string;
  /** the function that decided (import, tracker, on-failure) */
  by: string;
  /** the outcome is an older version's: the object now holds a newer upload, whose own outcome follows */
  olderVersion?: { etag: string };
  at: string;
}

/** The webhook URL, resolved; undefined when notifications are off (no config, or its variable unset). */
export function webhookUrl(config: NotifyConfig | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (!config) return undefined;
  const ref = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(config.webhook);
  const url = ref ? env[ref[1]!] : config.webhook;
  return url && /^https?:\/\//.test(url) ? url : undefined;
}

const HEADLINE: Record<NotifyOutcome, string> = {
  available: 'ENS image available',
  failed: 'ENS import failed',
  rejected: 'ENS import rejected',
  deleted: 'ENS image deleted',
};

export function renderNotice(format: NotifyConfig['format'], n: OutcomeNotice): string {
  const lines = [
    `${HEADLINE[n.outcome]}: oss://${n.bucket}/${n.key}${n.olderVersion ? ` (an older version, ETag ${n.olderVersion.etag}; the object holds a newer upload)` : ''}`,
    ...(n.imageId ? [`image: ${n.imageId}`] : []),
    ...(n.errorCode ? [`error: ${n.errorCode}`] : []),
    ...(n.reason ? [`reason: ${n.reason.slice(0, 500)}`] : []),
    `next: ens-importer why oss://${n.bucket}/${n.key}`,
  ];
  if (format === 'dingtalk')
    return JSON.stringify({ msgtype: 'markdown', markdown: { title: HEADLINE[n.outcome], text: lines.join('\n\n') } });
  if (format === 'lark') return JSON.stringify({ msg_type: 'text', content: { text: lines.join('\n') } });
  return JSON.stringify({ event: 'ens-import-outcome', ...n });
}
