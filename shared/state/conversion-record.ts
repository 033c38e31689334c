import * as z from 'zod/mini';
import { encodeWith, isoTime, parseWith, text, versionLeaseFields } from './records';

/**
 * The converter's record of one source version, under the state prefix like the import
 * record and as untrusted: every read is a validated parse, every write checked by the same schema.
 */

export const CONVERSION_STATES = ['converting', 'converted', 'rejected', 'failed'] as const;
export type ConversionState = (typeof CONVERSION_STATES)[number];

const schema = z.object({
  state: z.enum(CONVERSION_STATES),
  ...versionLeaseFields,
  /** when the first attempt on this version began: uploads to the output since then are ours */
  firstClaimedAt: isoTime(),
  format: z.optional(text(16)),
  /** the qcow2 this version becomes (or became) */
  outputKey: text(1024),
  outputEtag: z.optional(text(256)),
  /** every object this version writes, when more than one (an OVA's disks, then its manifest) */
  outputs: z.optional(z.array(text(1024)).check(z.maxLength(32))),
  /** the multipart upload in progress: aborted by whoever takes the claim over */
  uploadId: z.optional(text(256)),
  /** the key that upload writes (an OVA writes several) */
  uploadKey: z.optional(text(1024)),
  virtualSize: z.optional(z.number()),
  outputBytes: z.optional(z.number()),
  errorCode: z.optional(text(128)),
  reason: z.optional(text(8192)),
  convertedAt: z.optional(isoTime()),
  attempt: z.number().check(z.int(), z.gte(1)),
  history: z.array(z.object({ state: z.enum(CONVERSION_STATES), at: isoTime(), note: z.optional(text()) })).check(z.maxLength(100)),
});

export type ConversionRecord = z.infer<typeof schema>;

export const encodeConversion = (record: ConversionRecord): string => encodeWith(schema, record, 'conversion record');

export const parseConversion = (body: string | undefined): ConversionRecord | undefined => parseWith(schema, body);

export function conversionHistory(
  record: ConversionRecord,
  state: ConversionState,
  at: string,
  note?: string,
): ConversionRecord['history'] {
  return [...record.history, { state, at, ...(note ? { note: note.slice(0, 2048) } : {}) }].slice(-50);
}
