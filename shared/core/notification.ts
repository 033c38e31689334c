import * as z from 'zod/mini';
import { chatSafe } from './chat-text';
import { ROBOT_PER_MINUTE, type RobotFormat } from './robot-protocol';

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
  /** the robot's signing secret, or `env:NAME` (DingTalk "signature" security, Lark signature verification) */
  secret: z.optional(z.string().check(z.minLength(1))),
  /** messages a minute at most before notices fold into a digest (default: the robot's documented limit) */
  perMinute: z.optional(z.number().check(z.int(), z.positive())),
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

/** Where notices go, resolved when the configuration loads. */
export interface NotifyTarget {
  url: string;
  format: RobotFormat;
  on: readonly NotifyOutcome[];
  secret?: string;
  perMinute: number;
}

export class NotifyConfigError extends Error {}

const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const referenced = (v: string, env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const ref = ENV_REF.exec(v);
  return (ref ? env[ref[1]!] : v) || undefined;
};

/**
 * The webhook and secret, read and checked once: undefined when notifications are off (no
 * config, or its webhook variable unset or empty); a malformed URL or secret throws here, at
 * load, never after the work is done. Messages never repeat the values: they hold the tokens.
 */
export function resolveNotifyTarget(
  config: NotifyConfig | undefined,
  env: Readonly<Record<string, string | undefined>>,
): NotifyTarget | undefined {
  if (!config) return undefined;
  const url = referenced(config.webhook, env);
  if (!url) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {}
  const where = ENV_REF.test(config.webhook) ? `notify.webhook (${config.webhook})` : 'notify.webhook';
  if (!parsed || !/^https?:$/.test(parsed.protocol) || !parsed.hostname || parsed.username || parsed.password)
    throw new NotifyConfigError(`${where} is not an http(s) URL without user info (its value is not shown: it holds the robot's token)`);
  const secret = config.secret === undefined ? undefined : referenced(config.secret, env);
  if (secret && !/^[\x21-\x7e]{8,256}$/.test(secret))
    throw new NotifyConfigError('notify.secret must be 8 to 256 printable ASCII characters without spaces (its value is not shown)');
  if (secret && config.format === 'dingtalk' && !secret.startsWith('SEC'))
    throw new NotifyConfigError('notify.secret is not a DingTalk signing secret (those start with SEC; the value is not shown)');
  if (secret && config.format === 'json')
    throw new NotifyConfigError('notify.secret signs dingtalk and lark messages; format json has no signature');
  return { url, format: config.format, on: config.on, secret, perMinute: config.perMinute ?? ROBOT_PER_MINUTE[config.format] };
}

const HEADLINE: Record<NotifyOutcome, string> = {
  available: 'ENS image available',
  failed: 'ENS import failed',
  rejected: 'ENS import rejected',
  deleted: 'ENS image deleted',
};

function noticeLines(n: OutcomeNotice, safe: (s: string) => string): string[] {
  const object = safe(`oss://${n.bucket}/${n.key}`);
  return [
    `${HEADLINE[n.outcome]}: ${object}${n.olderVersion ? ` (an older version, ETag ${safe(n.olderVersion.etag)}; the object holds a newer upload)` : ''}`,
    ...(n.imageId ? [`image: ${safe(n.imageId)}`] : []),
    ...(n.errorCode ? [`error: ${safe(n.errorCode)}`] : []),
    ...(n.reason ? [`reason: ${safe(n.reason.slice(0, 500))}`] : []),
    `next: ens-importer why ${object}`,
  ];
}

const chatMessage = (format: 'dingtalk' | 'lark', title: string, lines: string[]): string =>
  format === 'dingtalk'
    ? JSON.stringify({ msgtype: 'markdown', markdown: { title, text: lines.join('\n\n') } })
    : JSON.stringify({ msg_type: 'text', content: { text: lines.join('\n') } });

export function renderNotice(format: NotifyConfig['format'], n: OutcomeNotice): string {
  if (format === 'json') return JSON.stringify({ event: 'ens-import-outcome', ...n });
  return chatMessage(
    format,
    HEADLINE[n.outcome],
    noticeLines(n, (s) => chatSafe(s, format)),
  );
}

/** Notices the robot's rate limit held back, as one message (the tracker sends it). */
export function renderDigest(format: NotifyConfig['format'], notices: readonly OutcomeNotice[], more: number): string {
  if (format === 'json') return JSON.stringify({ event: 'ens-import-outcome-digest', notices, more });
  const safe = (s: string) => chatSafe(s, format);
  const lines = [
    `${notices.length + more} notices held back by the robot's rate limit:`,
    ...notices.map((n) => `${n.outcome}: ${safe(`oss://${n.bucket}/${n.key}`)}${n.errorCode ? ` (${safe(n.errorCode)})` : ''}`),
    ...(more ? [`and ${more} more: ens-importer status --failed`] : []),
  ];
  return chatMessage(format, 'ENS import notices', lines);
}
