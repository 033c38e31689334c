import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import { failureCode } from '../core/failure-record';
import { TAG_ERROR, type ImportStatus } from '../core/tags';
import type { Logger } from '../runtime/logger';
import type { VersionRef } from '../state/claim';
import type { StateLayout } from '../state/layout';
import type { Finished, ResultLine, VersionResult } from './result-line';
import type { HeldRecord, VersionClaim } from './run-version';
import { screenEvent } from './screen';
import { tagIfCurrent } from './version-tags';

/**
 * The same door, walked by the on-failure function when FC has spent its retries on an
 * event: screen → which version → claim (no waiting: a live holder decides) → busy |
 * duplicate | the job ends the version → its record first, then the object's tags only while
 * the object still holds that version (a give-up that arrives after a newer upload never
 * rewrites what the object says about the newer one) → one result line.
 */

export interface GiveUp {
  /** the code the failed attempts left, the reason the record keeps */
  code: string;
  reason: string;
}

export interface EndJob<R extends VersionResult, Rec extends HeldRecord> {
  readonly name: string;
  readonly kind: 'import' | 'conversion';
  claimOnce(version: VersionRef): Promise<VersionClaim<Rec>>;
  /** write the version's end into its record; the tags it asks for follow if the object still holds it */
  end(
    claim: Extract<VersionClaim<Rec>, { kind: 'claimed' }>,
    giveUp: GiveUp,
  ): Promise<{ finished: Finished<R>; tags: { status: ImportStatus; imageId?: string; error?: string } }>;
}

export interface EndDeps {
  store: ObjectStore;
  log: Logger;
  clock: Clock;
  layout: StateLayout;
}

export async function endVersion<R extends VersionResult, Rec extends HeldRecord>(
  event: ObjectEvent,
  lastError: string,
  job: EndJob<R, Rec>,
  deps: EndDeps,
  line: ResultLine<R>,
): Promise<R> {
  const screened = screenEvent(event, deps.layout);
  if (screened) return line.finish(screened as Finished<R>);
  const head = await deps.store.head(event.key);
  const etag = event.etag ?? head?.etag;
  if (!etag) return line.finish({ errorCode: 'object-missing', reason: 'the object no longer exists' } as Finished<R>);
  line.result.etag = etag;
  // the object's ens:error names the failed attempts' code only while it holds this version
  const current = head?.etag === etag;
  const tagged = current ? await deps.store.getTags(event.key) : undefined;
  const giveUp: GiveUp = {
    code: failureCode(tagged?.[TAG_ERROR], lastError),
    reason: `FC gave up${job.name === 'conversion' ? ' on the conversion' : ''} after its retries: ${lastError}`.slice(0, 4096),
  };
  const claim = await job.claimOnce({ bucket: event.bucket, key: event.key, etag, ...(event.size ? { size: event.size } : {}) });
  if (claim.kind === 'held')
    return line.finish({
      errorCode: 'claim-busy',
      reason: `a live invocation holds this version's ${job.name}; it decides the outcome`,
    } as Finished<R>);
  if (claim.kind === 'done') {
    const state = (claim.record as { state?: string }).state;
    return line.finish({ outcome: 'duplicate', reason: `the ${job.name} of this version is already ${state}` } as Finished<R>);
  }
  await deps.store.putText(deps.layout.keyVersionKey(event.bucket, event.key, job.kind, claim.key), '');
  const { finished, tags } = await job.end(claim, giveUp);
  const written = await tagIfCurrent(deps.store, deps.log, { key: event.key, etag }, tags.status, tags);
  return line.finish(written === 'newer-version' ? ({ ...finished, olderVersion: true } as Finished<R>) : finished);
}
