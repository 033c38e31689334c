import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import type { Logger } from '../runtime/logger';
import { claimWaitingOut, type VersionRef } from '../state/claim';
import type { StateLayout } from '../state/layout';
import { refuseVersionedBucket } from './bucket-guard';
import { mayBeEncoded, readCurrentHead, type HeadStep } from './object-head';
import type { ResultLine, Finished, VersionResult } from './result-line';
import { screenEvent } from './screen';

/**
 * The one door every uploaded version goes through, whatever the job (import or conversion):
 *
 *   screen → bucket guard → head (when the job or the event needs it) → claim, or wait out a
 *   live holder → busy | duplicate | the job's work → on a throw, the job classifies → one
 *   result line.
 *
 * The job owns what differs (its claim, its work, its record); the door owns the order, so no
 * path can skip a step. Modelled on Powertools' IdempotencyHandler over its persistence layer.
 */

export type VersionClaim<Rec> =
  | { kind: 'claimed'; key: string; record: Rec; previous?: Rec; invalidPrevious?: boolean }
  | { kind: 'done'; key: string; record: Rec; newUpload?: boolean }
  | { kind: 'held'; key: string; record?: Rec };

/** What every claim record holds about its holder. */
export interface HeldRecord {
  claimDeadline: string;
  requestId?: string;
}

export interface VersionJob<R extends VersionResult, Rec extends HeldRecord> {
  /** said in the busy reason */
  readonly name: string;
  /** whose records these are: the key's history names each version's record by it */
  readonly kind: 'import' | 'conversion';
  /** bytes of the object read with its head */
  readonly headBytes: number;
  /** read the object before the claim even when the event names the version */
  readonly headFirst: boolean;
  /** a look at the read object before anything is claimed (the converter honours `ens-import: skip`) */
  beforeClaim?(read: ReadObject): Promise<Finished<R> | undefined>;
  /** the event is about a version the object no longer holds */
  superseded?(read: ReadObject, eventEtag: string): Promise<void>;
  /** IMPORTER_DRY_RUN: what would happen, nothing written */
  dryRun?(read: HeadStep | undefined): Promise<Finished<R>>;
  claimOnce(version: VersionRef): Promise<VersionClaim<Rec>>;
  /** the version has its outcome already: the record's truth said again where it belongs */
  duplicate(claim: Extract<VersionClaim<Rec>, { kind: 'done' }>): Promise<Finished<R>>;
  /** the claimed version's work, through to its record and the object's tags */
  work(claim: Extract<VersionClaim<Rec>, { kind: 'claimed' }>, read: ReadObject | undefined, line: R): Promise<Finished<R>>;
  /** the work threw: what that means for the record and the object */
  fail(err: unknown): Promise<Finished<R>>;
}

export type ReadObject = Extract<HeadStep, { kind: 'read' }>;

export interface DoorDeps {
  store: ObjectStore;
  log: Logger;
  clock: Clock;
  layout: StateLayout;
  requestId: string;
  deadline: number;
  dryRun?: boolean;
}

const OBJECT_MISSING = {
  outcome: 'rejected',
  errorCode: 'object-missing',
  reason: 'the object no longer exists (deleted or renamed after the upload)',
} as const;

export async function runVersion<R extends VersionResult, Rec extends HeldRecord>(
  event: ObjectEvent,
  job: VersionJob<R, Rec>,
  deps: DoorDeps,
  line: ResultLine<R>,
): Promise<R> {
  const screened = screenEvent(event, deps.layout);
  if (screened) return line.finish(screened as Finished<R>);
  try {
    const versioned = await refuseVersionedBucket(deps.store, deps.log, event.key, deps.clock.now());
    if (versioned) return line.finish(versioned as Finished<R>);
    const { stop, read } = await versionOf(event, job, deps, line.result);
    if (stop) return line.finish(stop);
    if (deps.dryRun && job.dryRun) return line.finish(await job.dryRun(read));
    const version = { bucket: event.bucket, key: line.result.key, etag: line.result.etag!, size: line.result.size };
    const claim = await claimWaitingOut(() => job.claimOnce(version), deps.clock, deps.deadline);
    if (claim.kind === 'held') return line.finish(busy(job.name, claim.record) as Finished<R>);
    if (claim.kind === 'done') return line.finish(await job.duplicate(claim));
    // the key's history lists the version before any work on it (idempotent; the object may be deleted later)
    await deps.store.putText(deps.layout.keyVersionKey(event.bucket, version.key, job.kind, claim.key), '');
    return line.finish(await job.work(claim, read, line.result));
  } catch (err) {
    return line.finish(await job.fail(err));
  }
}

/**
 * Which version the event is about, and whether the object still holds it. A key that may
 * arrive URL-encoded, an event without an ETag, or a job that needs the head first is read
 * now; the import otherwise claims on the event's ETag, so a redelivery ends in two requests.
 */
async function versionOf<R extends VersionResult, Rec extends HeldRecord>(
  event: ObjectEvent,
  job: VersionJob<R, Rec>,
  deps: DoorDeps,
  result: R,
): Promise<{ stop?: Finished<R>; read?: ReadObject }> {
  if (!job.headFirst && event.etag && !mayBeEncoded(event.key)) return {};
  const read = await readCurrentHead(deps.store, event.key, job.headBytes);
  if (read.kind === 'gone') return { stop: OBJECT_MISSING as Finished<R> };
  result.key = read.key;
  result.size = read.head.size;
  result.etag = event.etag ?? read.head.etag;
  if (event.etag && read.head.etag !== event.etag) {
    await job.superseded?.(read, event.etag);
    const reason = `the object was overwritten (ETag now ${read.head.etag}); the newer upload's event handles it`;
    return { stop: { errorCode: 'superseded', reason } as Finished<R> };
  }
  return { stop: await job.beforeClaim?.(read), read };
}

export const busy = (job: string, holder: HeldRecord | undefined) => ({
  outcome: 'failed' as const,
  retryable: true,
  errorCode: 'claim-busy',
  reason: `another invocation (${holder?.requestId ?? 'unknown'}) holds this version's ${job} until ${holder?.claimDeadline ?? 'soon'}; FC's retry will find it finished or free`,
});
