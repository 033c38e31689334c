import { realClock, type Clock } from '../core/clock';
import { isImportable, type ObjectEvent } from '../core/event';
import { failureCode } from '../core/failure-record';
import type { ObjectResult } from '../core/outcome';
import { TAG_ERROR } from '../core/tags';
import { stateLayout, type StateLayout } from '../state/layout';
import { claimForEvent } from './claim-wait';
import { encodeRecord, withHistory, type ImportRecord } from '../state/records';
import type { PipelineDeps } from './deps';
import { ImportSession } from './import-session';
import { writeImporterTags } from '../lifecycle/object-tags';

/**
 * FC has spent its retries on this event: end the version's story as `failed`, through the
 * same claim as an import, so a late delivery and this never both decide. Whatever shows
 * that ImportImage may have been sent stays in the record; a version whose ImageId is
 * known was imported after all and goes to the tracker instead.
 */
export async function endFailedVersion(event: ObjectEvent, lastError: string, deps: PipelineDeps): Promise<ObjectResult> {
  const clock = deps.clock ?? realClock;
  const layout = stateLayout(deps.config.statePrefix);
  const started = clock.now();
  const result: ObjectResult = {
    outcome: 'skipped',
    bucket: event.bucket,
    key: event.key,
    etag: event.etag,
    requestId: deps.requestId,
    attempts: 0,
    durationMs: 0,
  };
  const done = (r: Partial<ObjectResult>): ObjectResult => {
    Object.assign(result, r, { durationMs: clock.now() - started });
    deps.log[result.outcome === 'failed' ? 'error' : 'info']({ event: 'import-given-up', ...result, lastError });
    return result;
  };
  if (!isImportable(event.eventName) || layout.isStateKey(event.key)) return done({ errorCode: 'event-kind', reason: 'not an upload' });
  const head = event.etag ? undefined : await deps.store.head(event.key);
  const etag = event.etag ?? head?.etag;
  if (!etag) return done({ errorCode: 'object-missing', reason: 'the object no longer exists' });
  const tags = (await deps.store.getTags(event.key)) ?? {};
  const code = failureCode(tags[TAG_ERROR], lastError);
  const claim = await claimForEvent(deps, layout, clock, event, { bucket: event.bucket, key: event.key, etag, size: event.size });
  if (claim.kind === 'held')
    return done({ errorCode: 'claim-busy', reason: 'a live invocation holds this version; it decides the outcome' });
  if (claim.kind === 'done')
    return done({ outcome: 'duplicate', imageId: claim.record.imageId, reason: `already ${claim.record.state} for this ETag` });
  const session = new ImportSession(claim.key, claim.record, { ...deps, layout, clock });
  if (claim.record.imageId) {
    await handToTracker(claim.key, claim.record, deps, layout, clock);
    return done({ outcome: 'imported', imageId: claim.record.imageId, reason: 'the image existed; handed to the tracker' });
  }
  const reason = `FC gave up after its retries: ${lastError}`.slice(0, 4096);
  await session.fail([{ key: event.key }], code, reason);
  return done({ outcome: 'failed', errorCode: code, reason, retryable: false });
}

/** Imported before the last attempt died: the pending entry hands it to the tracker. */
async function handToTracker(claimKey: string, record: ImportRecord, deps: PipelineDeps, layout: StateLayout, clock: Clock): Promise<void> {
  const imageId = record.imageId!;
  await deps.store.putText(layout.pendingKey(claimKey, imageId), '');
  await writeImporterTags(deps.store, deps.log, { key: record.key }, 'importing', { imageId });
  const at = new Date(clock.now()).toISOString();
  const next: ImportRecord = {
    ...record,
    state: 'importing',
    importedAt: record.importedAt ?? at,
    history: withHistory(record, 'importing', at, 'finished by the on-failure function'),
  };
  await deps.store.putText(claimKey, encodeRecord(next));
}
