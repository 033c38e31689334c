import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import { acquireLease, type LeaseCodec } from './lease';
import type { StateLayout } from './layout';
import { encodeRecord, parseRecord, withHistory, type ImportRecord } from './records';

/**
 * Exactly once per (bucket, key, ETag): the claim is a lease on the version's record key.
 * Its deadline is the holder's own invocation deadline, so a claim that is still live
 * has a live holder, and FC's retry of a killed holder always finds it expired.
 */

export interface VersionRef {
  bucket: string;
  key: string;
  etag: string;
  size?: number;
}

export interface ClaimRequest {
  version: VersionRef;
  /** OSS request id of the upload; a new one for the same bytes is a new upload, not a redelivery */
  uploadRequestId?: string;
  eventName: string;
  /** when the object was uploaded (the event's time): nothing for this version was sent before it */
  uploadedAt?: number;
  requestId: string;
  deadline: number;
  now: number;
}

export type ClaimOutcome =
  | { kind: 'claimed'; key: string; record: ImportRecord; previous?: ImportRecord; invalidPrevious: boolean }
  /** finished for this version (importing counts: the tracker takes it from there) */
  | { kind: 'done'; key: string; record: ImportRecord; newUpload: boolean }
  /** a live invocation holds it, or another one is taking it over right now */
  | { kind: 'held'; key: string; record?: ImportRecord };

export const claimCodec: LeaseCodec<ImportRecord> = {
  parse: parseRecord,
  encode: encodeRecord,
  generation: (r) => r.generation,
  holder: (r) => `${r.requestId ?? ''}@${r.claimedAt}`,
};

const isNewUpload = (record: ImportRecord, uploadRequestId: string | undefined): boolean =>
  uploadRequestId !== undefined && uploadRequestId !== record.uploadRequestId;

/** The evidence that ImportImage may have reached ENS for this version. */
/** FC's longest function timeout is 24 h; no honest claim is held longer */
export const MAX_HOLD_MS = 24 * 3_600_000 + 60_000;

/** Takeover markers a lease's history left (a taker that died before removing its own): cleared once it ends. */
export async function clearMarkers(store: ObjectStore, layout: StateLayout, leaseKey: string, generation: number): Promise<void> {
  for (let g = generation; g >= 1 && g > generation - 5; g--) await store.delete(layout.markerKey(leaseKey, g)).catch(() => undefined);
}

/** A claim's holder is alive until its deadline; a deadline further out than any invocation lives is forged or broken. */
export const holderLive = (claimDeadline: string, now: number): boolean => {
  const until = Date.parse(claimDeadline);
  return until > now && until < now + MAX_HOLD_MS;
};

/**
 * Claim, and while a live invocation holds the version, wait for it and claim again. The
 * holder's deadline is never later than ours would be, so waiting for it to end fits; when
 * our own time runs out first, the held outcome is returned.
 */
export async function claimWaitingOut<T extends { kind: string; record?: { claimDeadline: string } }>(
  claimOnce: () => Promise<T>,
  clock: Clock,
  deadline: number,
): Promise<T> {
  let claim = await claimOnce();
  for (let wait = 500; claim.kind === 'held'; wait = Math.min(wait * 2, 5_000)) {
    const holderEnds = claim.record ? Date.parse(claim.record.claimDeadline) + 1 : clock.now() + wait;
    const pause = Math.max(1, Math.min(wait, holderEnds - clock.now()));
    if (clock.now() + pause >= deadline) return claim;
    await clock.sleep(pause);
    claim = await claimOnce();
  }
  return claim;
}

export const hasEvidence = (r: ImportRecord): boolean => Boolean(r.sentSince || r.imageId || r.uncertain);

export async function claimVersion(store: ObjectStore, layout: StateLayout, c: ClaimRequest, staleMarkerMs: number): Promise<ClaimOutcome> {
  const key = layout.claimKey(c.version.bucket, c.version.key, c.version.etag);
  const at = new Date(c.now).toISOString();
  const fresh: ImportRecord = {
    state: 'claimed',
    bucket: c.version.bucket,
    key: c.version.key,
    etag: c.version.etag,
    ...(c.version.size !== undefined ? { size: c.version.size } : {}),
    generation: 0,
    claimedAt: at,
    claimDeadline: new Date(c.deadline).toISOString(),
    requestId: c.requestId,
    ...(c.uploadRequestId ? { uploadRequestId: c.uploadRequestId } : {}),
    eventName: c.eventName,
    attempt: 1,
    history: [{ state: 'claimed', at }],
  };
  const outcome = await acquireLease(store, {
    key,
    markerKey: (g) => layout.markerKey(key, g),
    asideKey: (g) => layout.asideKey(key, g),
    fresh,
    codec: claimCodec,
    holder: claimCodec.holder(fresh),
    now: () => c.now,
    staleMarkerMs,
    decide: (current) => decide(current, c),
    successor: (previous, generation, unreadable) =>
      unreadable ? afterUnreadable(fresh, generation, c, at) : successor(previous, generation, fresh, at),
  });
  switch (outcome.kind) {
    case 'acquired':
      return { kind: 'claimed', key, record: outcome.body, invalidPrevious: false };
    case 'taken-over':
      return { kind: 'claimed', key, record: outcome.body, previous: outcome.previous, invalidPrevious: outcome.invalid };
    case 'kept':
      return outcome.current.state === 'claimed'
        ? { kind: 'held', key, record: outcome.current }
        : { kind: 'done', key, record: outcome.current, newUpload: isNewUpload(outcome.current, c.uploadRequestId) };
    case 'lost':
      return { kind: 'held', key };
  }
}

function decide(current: ImportRecord | undefined, c: ClaimRequest): 'take' | 'keep' {
  if (!current) return 'take';
  if (current.state === 'claimed') return holderLive(current.claimDeadline, c.now) ? 'keep' : 'take';
  // a new upload of a version that failed, was rejected, whose image ENS no longer has, or that a
  // newer version superseded (the old bytes uploaded again): a new attempt
  if (['failed', 'rejected', 'deleted', 'superseded'].includes(current.state))
    return isNewUpload(current, c.uploadRequestId) ? 'take' : 'keep';
  return 'keep';
}

/**
 * A body we did not write stood where this version's record belongs: whatever it was, an
 * ImportImage may have been sent for this version since its upload, so the new holder looks
 * in ENS before it sends (the same path as an answer that was lost).
 */
function afterUnreadable(fresh: ImportRecord, generation: number, c: ClaimRequest, at: string): ImportRecord {
  const since = Number.isFinite(c.uploadedAt) ? c.uploadedAt! : c.now - MAX_HOLD_MS;
  return {
    ...fresh,
    generation,
    sentSince: new Date(Math.min(since, c.now)).toISOString(),
    uncertain: { at, answered: true, code: 'state-record-unreadable' },
    history: [{ state: 'claimed', at, note: 'an unreadable body was set aside; ENS is searched before any import' }],
  };
}

function successor(previous: ImportRecord | undefined, generation: number, fresh: ImportRecord, at: string): ImportRecord {
  if (!previous) return { ...fresh, generation };
  if (previous.state === 'claimed') {
    // its holder is gone: whatever it may have sent to ENS must be looked for first
    return {
      ...fresh,
      generation,
      sentSince: previous.sentSince ?? previous.claimedAt,
      ...(previous.uncertain ? { uncertain: previous.uncertain } : {}),
      ...(previous.imageId ? { imageId: previous.imageId } : {}),
      attempt: previous.attempt ?? 1,
      history: withHistory(previous, 'claimed', at, `taken over from ${previous.requestId ?? 'unknown'}`),
    };
  }
  // a new upload of a version that failed or was rejected: a new attempt. A failure that
  // never learned its ImageId may still have reached ENS: the new attempt looks first.
  // a superseded version uploaded again whose image was kept: the attempt adopts that image
  if (previous.state === 'superseded' && previous.imageId && previous.imageDeletion?.state !== 'deleted')
    return {
      ...fresh,
      generation,
      imageId: previous.imageId,
      attempt: (previous.attempt ?? 1) + 1,
      history: withHistory(previous, 'claimed', at, 'uploaded again after it was superseded; its kept image is adopted'),
    };
  const evidence =
    previous.state === 'failed' && !previous.imageId
      ? {
          ...(previous.sentSince ? { sentSince: previous.sentSince } : {}),
          ...(previous.uncertain ? { uncertain: previous.uncertain } : {}),
        }
      : {};
  return {
    ...fresh,
    ...evidence,
    generation,
    attempt: (previous.attempt ?? 1) + 1,
    history: withHistory(previous, 'claimed', at, `new upload after ${previous.state} (${previous.errorCode ?? ''})`),
  };
}
