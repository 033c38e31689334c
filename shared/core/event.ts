// zod/mini: the same validation as zod with a fraction of the code in the bundle
import * as z from 'zod/mini';

/** The OSS event an FC OSS trigger delivers: `{"events": [...]}`. */

export const IMPORTABLE_EVENTS = [
  'ObjectCreated:PutObject',
  'ObjectCreated:PostObject',
  'ObjectCreated:CopyObject',
  'ObjectCreated:CompleteMultipartUpload',
] as const;

const nonEmpty = () => z.string().check(z.minLength(1));
const ossEventSchema = z.object({
  eventName: nonEmpty(),
  eventSource: z.literal('acs:oss'),
  eventTime: z.optional(z.string()),
  region: nonEmpty(),
  oss: z.object({
    bucket: z.object({ name: nonEmpty(), arn: z.optional(z.string()) }),
    object: z.object({
      key: nonEmpty(),
      size: z.optional(z.number().check(z.gte(0))),
      eTag: z.optional(z.string()),
      deltaSize: z.optional(z.number()),
      objectMeta: z.optional(z.looseObject({ userMeta: z.optional(z.record(z.string(), z.unknown())) })),
    }),
  }),
  responseElements: z.optional(z.looseObject({ requestId: z.optional(z.string()) })),
  userIdentity: z.optional(z.looseObject({ principalId: z.optional(z.string()) })),
});

const payloadSchema = z.object({ events: z.array(z.unknown()).check(z.minLength(1)) });

/** One object event, as the pipeline uses it. */
export interface ObjectEvent {
  eventName: string;
  eventTime?: string;
  region: string;
  bucket: string;
  key: string;
  size?: number;
  /** upper-case, no quotes */
  etag?: string;
  requestId?: string;
}

export type EventEntry = { ok: true; event: ObjectEvent } | { ok: false; reason: string; raw: unknown };

export type ParsedPayload = { ok: true; entries: EventEntry[] } | { ok: false; reason: string };

export const normalizeEtag = (etag: string | undefined): string | undefined =>
  etag ? etag.replace(/"/g, '').trim().toUpperCase() : undefined;

const describeIssues = (e: z.core.$ZodError): string => e.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ');

/** Accept a Buffer, a string or an object; each entry of `events` is checked on its own. */
export function parseEventPayload(input: unknown): ParsedPayload {
  let doc: unknown = input;
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) doc = Buffer.from(input).toString('utf8');
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc);
    } catch (err) {
      return { ok: false, reason: `event is not valid JSON: ${(err as Error).message}` };
    }
  }
  const payload = payloadSchema.safeParse(doc);
  if (!payload.success) return { ok: false, reason: `not an OSS event (${describeIssues(payload.error)})` };
  return {
    ok: true,
    entries: payload.data.events.map((raw): EventEntry => {
      const e = ossEventSchema.safeParse(raw);
      if (!e.success) return { ok: false, reason: `not an OSS object event (${describeIssues(e.error)})`, raw };
      return {
        ok: true,
        event: {
          eventName: e.data.eventName.replace(/^oss:/, ''),
          eventTime: e.data.eventTime,
          region: e.data.region,
          bucket: e.data.oss.bucket.name,
          key: e.data.oss.object.key,
          size: e.data.oss.object.size,
          etag: normalizeEtag(e.data.oss.object.eTag),
          requestId: e.data.responseElements?.requestId,
        },
      };
    }),
  };
}

export function isImportable(eventName: string): boolean {
  return (IMPORTABLE_EVENTS as readonly string[]).includes(eventName);
}

/** An ObjectCreated event shaped exactly as an FC OSS trigger delivers it (for backfill). */
export function objectCreatedEvent(o: {
  region: string;
  bucket: string;
  key: string;
  size: number;
  etag: string;
  accountId?: string;
  eventName?: string;
  /** the upload's OSS request id; a new one makes the event a new upload (a new attempt) */
  requestId?: string;
}): { events: unknown[] } {
  const account = o.accountId ?? '';
  return {
    events: [
      {
        eventName: o.eventName ?? 'ObjectCreated:PutObject',
        eventSource: 'acs:oss',
        eventTime: new Date().toISOString(),
        eventVersion: '1.0',
        oss: {
          bucket: { arn: `acs:oss:${o.region}:${account}:${o.bucket}`, name: o.bucket, ownerIdentity: account },
          object: { deltaSize: 0, eTag: o.etag, key: o.key, size: o.size },
          ossSchemaVersion: '1.0',
          ruleId: 'ens-importer-backfill',
        },
        region: o.region,
        requestParameters: { sourceIPAddress: '' },
        responseElements: { requestId: o.requestId ?? `backfill-${Date.now().toString(36)}` },
        userIdentity: { principalId: 'ens-importer-backfill' },
      },
    ],
  };
}
