import type { ObjectStore } from '../adapters/object-store';
import { holderLive, MAX_HOLD_MS, type VersionRef } from './claim';
import { conversionHistory, encodeConversion, parseConversion, type ConversionRecord } from './conversion-record';
import type { StateLayout } from './layout';
import { acquireLease, type LeaseCodec } from './lease';

/**
 * Exactly one conversion per source version: the same lease as the import's claim, on the
 * version's conversion key. A takeover inherits the multipart upload in progress (to abort it)
 * and the time the first attempt began (uploads to the output since then are this version's).
 */

export interface ConversionClaimRequest {
  version: VersionRef;
  outputKey: string;
  uploadRequestId?: string;
  requestId: string;
  deadline: number;
  now: number;
}

export type ConversionClaim =
  | { kind: 'claimed'; key: string; record: ConversionRecord; previous?: ConversionRecord }
  | { kind: 'done'; key: string; record: ConversionRecord }
  | { kind: 'held'; key: string; record?: ConversionRecord };

const codec: LeaseCodec<ConversionRecord> = {
  parse: parseConversion,
  encode: encodeConversion,
  generation: (r) => r.generation,
  holder: (r) => `${r.requestId ?? ''}@${r.claimedAt}`,
};

const isNewUpload = (r: ConversionRecord, uploadRequestId: string | undefined): boolean =>
  uploadRequestId !== undefined && uploadRequestId !== r.uploadRequestId;

export async function claimConversion(
  store: ObjectStore,
  layout: StateLayout,
  c: ConversionClaimRequest,
  staleMarkerMs: number,
): Promise<ConversionClaim> {
  const key = layout.conversionKey(c.version.bucket, c.version.key, c.version.etag);
  const at = new Date(c.now).toISOString();
  const fresh: ConversionRecord = {
    state: 'converting',
    bucket: c.version.bucket,
    key: c.version.key,
    etag: c.version.etag,
    ...(c.version.size !== undefined ? { size: c.version.size } : {}),
    generation: 0,
    claimedAt: at,
    claimDeadline: new Date(c.deadline).toISOString(),
    firstClaimedAt: at,
    requestId: c.requestId,
    ...(c.uploadRequestId ? { uploadRequestId: c.uploadRequestId } : {}),
    outputKey: c.outputKey,
    attempt: 1,
    history: [{ state: 'converting', at }],
  };
  const outcome = await acquireLease(store, {
    key,
    markerKey: (g) => layout.markerKey(key, g),
    asideKey: (g) => layout.asideKey(key, g),
    fresh,
    codec,
    holder: codec.holder(fresh),
    now: () => c.now,
    staleMarkerMs,
    decide: (current) => decide(current, c),
    // an unreadable body may hide an attempt whose upload is still open: every upload to the
    // output since any attempt on this version could have begun is this version's to abort
    successor: (previous, generation, unreadable) =>
      unreadable
        ? { ...fresh, generation, firstClaimedAt: new Date(c.now - MAX_HOLD_MS).toISOString() }
        : successor(previous, generation, fresh, at),
  });
  switch (outcome.kind) {
    case 'acquired':
      return { kind: 'claimed', key, record: outcome.body };
    case 'taken-over':
      return { kind: 'claimed', key, record: outcome.body, ...(outcome.previous ? { previous: outcome.previous } : {}) };
    case 'kept':
      return outcome.current.state === 'converting'
        ? { kind: 'held', key, record: outcome.current }
        : { kind: 'done', key, record: outcome.current };
    case 'lost':
      return { kind: 'held', key };
  }
}

function decide(current: ConversionRecord | undefined, c: ConversionClaimRequest): 'take' | 'keep' {
  if (!current) return 'take';
  if (current.state === 'converting') return holderLive(current.claimDeadline, c.now) ? 'keep' : 'take';
  // rejected or failed: a new upload of the same bytes is a new attempt; converted stays converted
  return current.state !== 'converted' && isNewUpload(current, c.uploadRequestId) ? 'take' : 'keep';
}

/** A takeover inherits the open upload (to abort it), the outputs and when the first attempt began. */
function successor(previous: ConversionRecord | undefined, generation: number, fresh: ConversionRecord, at: string): ConversionRecord {
  if (!previous) return { ...fresh, generation };
  const takenOver = previous.state === 'converting';
  return {
    ...fresh,
    generation,
    firstClaimedAt: previous.firstClaimedAt,
    // the first attempt's output stays the output (the setting may have changed since)
    outputKey: previous.outputKey,
    ...(takenOver && previous.uploadId ? { uploadId: previous.uploadId, uploadKey: previous.uploadKey } : {}),
    ...(takenOver && previous.outputs ? { outputs: previous.outputs } : {}),
    attempt: takenOver ? previous.attempt : previous.attempt + 1,
    history: conversionHistory(
      previous,
      'converting',
      at,
      takenOver ? `taken over from ${previous.requestId ?? 'unknown'}` : `new upload after ${previous.state}`,
    ),
  };
}
