import { importVersionsOf } from '../state/key-versions';
import { encodeRecord, withHistory, type ImportRecord } from '../state/records';
import type { TrackRun } from './types';

/**
 * A key lives on: when the version the object holds becomes available, every earlier version of
 * the key whose image is available is `superseded` (its record says by which image). Under the
 * rule's `previous: delete-after-available` its image is queued for deletion (deletions.ts);
 * under `keep` (the default) it stays, recorded. Only images this importer made for this key,
 * as their records prove, are ever touched; the object's tags are the current version's.
 */
export async function supersedeEarlier(current: ImportRecord, currentRecordKey: string, run: TrackRun): Promise<void> {
  const { deps, layout, retry, clock } = run;
  const policy = deps.previousPolicy?.(current.bucket, current.key) ?? 'keep';
  for (const entry of await importVersionsOf(deps.store, layout, current.bucket, current.key, retry, currentRecordKey)) {
    const earlier = entry.record;
    if (!earlier.imageId || earlier.imageId === current.imageId) continue;
    const deletionKey = layout.deletionKey(entry.recordKey, earlier.imageId);
    // a run that stopped after the record: its queue entry is put again (idempotent)
    if (earlier.state === 'superseded' && earlier.supersededBy?.imageId === current.imageId && earlier.imageDeletion?.state === 'pending')
      await retry(() => deps.store.putText(deletionKey, ''));
    if (earlier.state !== 'available') continue;
    const at = new Date(clock.now()).toISOString();
    const deleting = policy === 'delete-after-available';
    const updated: ImportRecord = {
      ...earlier,
      state: 'superseded',
      supersededBy: { etag: current.etag, imageId: current.imageId! },
      ...(deleting ? { imageDeletion: { state: 'pending' as const, attempts: 0, at } } : {}),
      history: withHistory(earlier, 'superseded', at, `by ${current.imageId} (previous: ${policy})`),
    };
    // the queue entry first: a record that says pending always has one (the next run re-puts it too)
    if (deleting) await retry(() => deps.store.putText(deletionKey, ''));
    await retry(() => deps.store.putText(entry.recordKey, encodeRecord(updated)));
    deps.log.info({
      event: 'image-superseded',
      bucket: earlier.bucket,
      key: earlier.key,
      etag: earlier.etag,
      imageId: earlier.imageId,
      by: current.imageId,
      previous: policy,
    });
  }
}
