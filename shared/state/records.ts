import * as z from 'zod/mini';

/**
 * The state objects' schemas, on both sides. Anyone who can write under the state prefix
 * could forge one, so every read is a validated parse; and every write goes through the same
 * schema (`encode*`), so a bug can never leave a record that the next reader cannot trust.
 * OSS writes an object whole, so a body that fails to parse was not written by us: the lease
 * sets it aside (`<key>.unreadable.g<n>`) and treats it as possible evidence, never as stale.
 */

/**
 * `converting`: handed to the converter (a `.img` that is not qcow2); its qcow2 is imported on
 * its own. `deleted`: its image was available, then ENS stopped having it: ENS is the truth, and
 * the version may be imported again.
 */
export const RECORD_STATES = ['claimed', 'importing', 'available', 'failed', 'rejected', 'converting', 'deleted', 'superseded'] as const;
export type RecordState = (typeof RECORD_STATES)[number];
/** the states after which this version needs nothing more from the importer */
export const FINAL_STATES: readonly RecordState[] = ['importing', 'available', 'failed', 'rejected', 'converting', 'deleted', 'superseded'];

/** no state object worth reading is larger than this */
export const MAX_STATE_OBJECT_BYTES = 256 * 1024;
const MAX_HISTORY = 50;

export const isoTime = () => z.string().check(z.refine((s) => Number.isFinite(Date.parse(s)), 'not a time'));
export const text = (max = 2048) => z.string().check(z.maxLength(max));

/** What every lease on one (bucket, key, ETag) holds: the import's claim and the converter's alike. */
export const versionLeaseFields = {
  bucket: text(63),
  key: text(1024),
  etag: text(256),
  size: z.optional(z.number()),
  generation: z.number().check(z.int(), z.gte(0)),
  claimedAt: isoTime(),
  /** the holder's own invocation deadline: after it the holder is certainly gone */
  claimDeadline: isoTime(),
  /** FC request id of the holder */
  requestId: z.optional(text(128)),
  /** OSS request id of the upload (responseElements.requestId): tells a new upload from a redelivery */
  uploadRequestId: z.optional(text(128)),
};

const historyEntry = z.object({ state: z.enum(RECORD_STATES), at: isoTime(), note: z.optional(text()) });

const recordSchema = z.object({
  state: z.enum(RECORD_STATES),
  ...versionLeaseFields,
  eventName: z.optional(text(128)),
  /** ImportImage may have reached ENS at or after this time (kept across takeovers) */
  sentSince: z.optional(isoTime()),
  /** the last ImportImage ended without a usable answer */
  uncertain: z.optional(z.object({ at: isoTime(), answered: z.boolean(), code: text(128) })),
  imageId: z.optional(z.string().check(z.regex(/^m-[a-z0-9]{1,64}$/))),
  imageName: z.optional(text(256)),
  ensRequestId: z.optional(text(128)),
  errorCode: z.optional(text(128)),
  reason: z.optional(text(8192)),
  params: z.optional(z.record(z.string(), z.unknown())),
  inspection: z.optional(z.record(z.string(), z.unknown())),
  importedAt: z.optional(isoTime()),
  adopted: z.optional(z.boolean()),
  disks: z.optional(z.array(text(1024)).check(z.maxLength(64))),
  /** the upload this qcow2 was converted from (its metadata says so): source → qcow2 → image */
  convertedFrom: z.optional(z.object({ key: text(1024), etag: text(256) })),
  /** 1 for the first upload of this version; a new upload after failed/rejected adds one */
  attempt: z.optional(z.number().check(z.int(), z.gte(1))),
  history: z.optional(z.array(historyEntry).check(z.maxLength(MAX_HISTORY * 2))),
  /** `superseded`: the newer version of the key whose image became available */
  supersededBy: z.optional(z.object({ etag: text(256), imageId: z.string().check(z.regex(/^m-[a-z0-9]{1,64}$/)) })),
  /** what became of a superseded version's image under `previous: delete-after-available` */
  imageDeletion: z.optional(
    z.object({
      state: z.enum(['pending', 'deleted', 'refused', 'kept']),
      attempts: z.number().check(z.int(), z.gte(0)),
      at: isoTime(),
      /** a refused deletion is tried again from then on */
      nextAt: z.optional(isoTime()),
      code: z.optional(text(128)),
      reason: z.optional(text(1024)),
    }),
  ),
});

export type ImportRecord = z.infer<typeof recordSchema>;

const lockSchema = z.object({
  holder: text(128),
  until: isoTime(),
  generation: z.number().check(z.int(), z.gte(0)),
});
export type TrackerLock = z.infer<typeof lockSchema>;

const waitingSchema = z.object({
  manifestKey: text(1024),
  bucket: text(63),
  region: text(64),
  missing: z.array(text(1024)).check(z.maxLength(64)),
  since: isoTime(),
  deadline: isoTime(),
});
export type WaitingEntry = z.infer<typeof waitingSchema>;

/** where the tracker's rolling re-check of the images index goes on next */
const recheckSchema = z.object({ after: text(1024), passes: z.number().check(z.int(), z.gte(0)), at: isoTime() });
export type RecheckCursor = z.infer<typeof recheckSchema>;

const markerSchema = z.object({ holder: text(128), at: isoTime() });
export type LeaseMarker = z.infer<typeof markerSchema>;

export function parseWith<T>(schema: z.ZodMiniType<T>, body: string | undefined): T | undefined {
  if (body === undefined || body.length > MAX_STATE_OBJECT_BYTES) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  const r = schema.safeParse(doc);
  return r.success ? r.data : undefined;
}

/** A state write refused before it was sent: the value broke its own schema (a bug, never input). */
export class StateWriteError extends Error {
  override name = 'StateWriteError';
  readonly code = 'state-write-invalid';
}

export function encodeWith<T>(schema: z.ZodMiniType<T>, value: T, what: string): string {
  const checked = schema.safeParse(value);
  if (!checked.success) {
    const issues = checked.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new StateWriteError(`refused to write a ${what} that breaks its schema (${issues.join('; ')})`);
  }
  const body = JSON.stringify(value);
  if (body.length > MAX_STATE_OBJECT_BYTES)
    throw new StateWriteError(`refused to write a ${what} of ${body.length} bytes (at most ${MAX_STATE_OBJECT_BYTES})`);
  return body;
}

export const encodeRecord = (record: ImportRecord): string => encodeWith(recordSchema, record, 'import record');
export const encodeLock = (lock: TrackerLock): string => encodeWith(lockSchema, lock, 'tracker lock');
export const encodeWaiting = (entry: WaitingEntry): string => encodeWith(waitingSchema, entry, 'waiting entry');
export const encodeRecheck = (cursor: RecheckCursor): string => encodeWith(recheckSchema, cursor, 'recheck cursor');
export const parseRecheck = (body: string | undefined): RecheckCursor | undefined => parseWith(recheckSchema, body);
export const encodeMarker = (marker: LeaseMarker): string => encodeWith(markerSchema, marker, 'takeover marker');

export const parseRecord = (body: string | undefined): ImportRecord | undefined => parseWith(recordSchema, body);
export const parseLock = (body: string | undefined): TrackerLock | undefined => parseWith(lockSchema, body);
export const parseWaiting = (body: string | undefined): WaitingEntry | undefined => parseWith(waitingSchema, body);
export const parseMarker = (body: string | undefined): LeaseMarker | undefined => parseWith(markerSchema, body);

/** Append to a record's history, keeping the newest entries. */
export function withHistory(record: ImportRecord, state: RecordState, at: string, note?: string): ImportRecord['history'] {
  const next = [...(record.history ?? []), { state, at, ...(note ? { note } : {}) }];
  return next.slice(-MAX_HISTORY);
}
