import { randomBytes } from 'node:crypto';

export interface NotificationInput {
  eventName: string;
  region: string;
  accountId: string;
  bucket: string;
  key: string;
  size: number;
  etag: string;
  deltaSize: number;
  userMeta?: Record<string, string>;
  principalId: string;
  sourceIp: string;
  requestId: string;
}

/** One entry of `events`, shaped as an FC OSS trigger delivers it. */
export function notificationRecord(n: NotificationInput): Record<string, unknown> {
  return {
    eventName: n.eventName,
    eventSource: 'acs:oss',
    eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, '.000Z'),
    eventVersion: '1.0',
    oss: {
      bucket: {
        arn: `acs:oss:${n.region}:${n.accountId}:${n.bucket}`,
        name: n.bucket,
        ownerIdentity: n.accountId,
        virtualBucket: '',
      },
      object: {
        deltaSize: n.deltaSize,
        eTag: n.etag,
        key: n.key,
        size: n.size,
        ...(n.userMeta && Object.keys(n.userMeta).length ? { objectMeta: { userMeta: n.userMeta } } : {}),
      },
      ossSchemaVersion: '1.0',
      ruleId: randomBytes(20).toString('hex'),
    },
    region: n.region,
    requestParameters: { sourceIPAddress: n.sourceIp },
    responseElements: { requestId: n.requestId },
    userIdentity: { principalId: n.principalId },
  };
}

/** A trigger's subscription: its event list (`oss:ObjectCreated:PutObject`) and key filter. */
export interface Subscription {
  name: string;
  bucket: string;
  events: string[];
  prefix?: string;
  suffix?: string;
  deliver(payload: Buffer): void;
}

export function subscriptionMatches(sub: Subscription, bucket: string, eventName: string, key: string): boolean {
  if (sub.bucket !== bucket) return false;
  const wanted = sub.events.map((e) => e.replace(/^oss:/, ''));
  const kindMatches = wanted.some((w) => (w.endsWith(':*') ? eventName.startsWith(w.slice(0, -1)) : w === eventName));
  if (!kindMatches) return false;
  if (sub.prefix && !key.startsWith(sub.prefix)) return false;
  if (sub.suffix && !key.endsWith(sub.suffix)) return false;
  return true;
}
