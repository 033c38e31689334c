import { EnsCallError } from '../adapters/ens';
import { encodeRecord, parseRecord, withHistory, type ImportRecord } from '../state/records';
import type { TrackRun } from './types';

/**
 * The images of superseded versions that `previous: delete-after-available` deletes, one queue
 * entry each (`deletions/<hash>~<imageId>`). Each run tries the entries that are due: ENS
 * DeleteImage; an image ENS no longer has counts as deleted. A refusal (in use by an instance,
 * not yet made, throttled, a missing grant) is recorded with its code and tried again later,
 * 5 minutes, then twice as long each time, at most a day apart. The record is written before the
 * entry goes, so a run that stops in between is finished by the next. The image of the version
 * the object holds (uploaded again) is never deleted.
 */

const DELETIONS_PER_RUN = 100;
const FIRST_RETRY_MS = 5 * 60_000;
const MAX_RETRY_MS = 86_400_000;

export async function followDeletions(run: TrackRun): Promise<void> {
  const { deps, layout, retry, clock } = run;
  const page = await retry(() => deps.store.listPage(layout.deletionsPrefix, undefined, DELETIONS_PER_RUN));
  for (const o of page.objects) {
    if (clock.now() >= deps.runDeadline) return;
    const entry = layout.parseDeletionKey(o.key);
    const record = entry && parseRecord(await retry(() => deps.store.getText(entry.claimKey)));
    const due = record?.imageDeletion;
    if (
      !entry ||
      !record ||
      // a superseded version, or one whose object was deleted (onDelete: delete-image); not one
      // uploaded again since (a new attempt: claimed, importing)
      !['superseded', 'available', 'importing', 'deleted'].includes(record.state) ||
      record.imageId !== entry.imageId ||
      !due ||
      due.state === 'deleted' ||
      due.state === 'kept'
    ) {
      await retry(() => deps.store.delete(o.key));
      continue;
    }
    if (due.nextAt && Date.parse(due.nextAt) > clock.now()) continue;
    const outcome = await deleteOne(record, run);
    await retry(() => deps.store.putText(entry.claimKey, encodeRecord(outcome)));
    if (outcome.imageDeletion?.state !== 'refused') await retry(() => deps.store.delete(o.key));
    const d = outcome.imageDeletion!;
    const fields = { event: 'image-deletion', bucket: record.bucket, key: record.key, imageId: record.imageId, outcome: d.state };
    if (d.state === 'refused') deps.log.warn({ ...fields, errorCode: d.code, attempts: d.attempts, nextAt: d.nextAt, reason: d.reason });
    else deps.log.info({ ...fields, attempts: d.attempts });
  }
}

/** One deletion tried: the record as it is after it. */
async function deleteOne(record: ImportRecord, run: TrackRun): Promise<ImportRecord> {
  const { deps, clock, retry } = run;
  const at = new Date(clock.now()).toISOString();
  const attempts = (record.imageDeletion?.attempts ?? 0) + 1;
  const current = await retry(() => deps.store.head(record.key));
  if (current?.etag === record.etag) {
    const reason = 'the object holds this version again: its image is the current one';
    return { ...record, imageDeletion: { state: 'kept', attempts, at, reason }, history: withHistory(record, 'superseded', at, reason) };
  }
  try {
    const answer = await deps.ens.deleteImage(record.imageId!, Math.min(10_000, Math.max(1, deps.runDeadline - clock.now())));
    const note =
      answer === 'gone'
        ? 'ENS no longer had the image'
        : `image deleted: ${record.imageDeletion?.reason ?? 'previous: delete-after-available'}`;
    // a superseded version stays superseded; one whose object was deleted ends deleted
    const state = record.state === 'superseded' ? 'superseded' : 'deleted';
    return {
      ...record,
      state,
      ...(state === 'deleted' ? { errorCode: 'object-deleted' } : {}),
      imageDeletion: { state: 'deleted', attempts, at, ...(record.imageDeletion?.reason ? { reason: record.imageDeletion.reason } : {}) },
      history: withHistory(record, state, at, note),
    };
  } catch (err) {
    const code = err instanceof EnsCallError ? err.code : 'InternalError';
    const wait = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1));
    const reason = (err as Error).message.slice(0, 1000);
    const nextAt = new Date(clock.now() + wait).toISOString();
    return { ...record, imageDeletion: { state: 'refused', attempts, at, nextAt, code, reason } };
  }
}
