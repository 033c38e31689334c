import type { LocalStack } from '../../local/index';
import { objectCreatedEvent } from '../../shared/core/event';

/**
 * An OSS trigger event for an object in the stack, shaped exactly as FC delivers it. The
 * ETag and size come from the stored object unless given (a stale or missing version).
 */
export function ossEvent(
  stack: LocalStack,
  key: string,
  o: { bucket?: string; region?: string; etag?: string; size?: number; eventName?: string; requestId?: string } = {},
): Record<string, unknown> {
  const bucket = o.bucket ?? stack.bucket;
  const stored = stack.oss.peekObject(bucket, key);
  const [event] = objectCreatedEvent({
    region: o.region ?? stack.region,
    bucket,
    key,
    size: o.size ?? stored?.size ?? 0,
    etag: o.etag ?? stored?.etag ?? '',
    accountId: stack.accountId,
    eventName: o.eventName,
  }).events as Record<string, unknown>[];
  if (o.requestId) (event as { responseElements: { requestId: string } }).responseElements.requestId = o.requestId;
  return event!;
}

/** The trigger's payload: `{"events": [...]}` as the JSON text FC hands the function. */
export const payload = (...events: unknown[]): string => JSON.stringify({ events });

/** The event of the upload that made the object's current version, delivered again (its request id from the record). */
export function redelivered(stack: LocalStack, key: string, bucket = stack.bucket): Record<string, unknown> {
  const record = stack
    .stateKeys('claims', bucket)
    .map((k) => JSON.parse(stack.objectText(k, bucket)!))
    .find((r) => r.key === key);
  return ossEvent(stack, key, { bucket, requestId: record?.uploadRequestId });
}
