import { importVersionsOf } from '../state/key-versions';
import { encodeRecord, parseRecord, withHistory, type ImportRecord } from '../state/records';
import type { TrackRun } from './types';

/**
 * A key lives on: when the version the object holds becomes available, every earlier version of
 * the key whose image is available is `superseded` (its record says by which image). Under the
 * rule's `previous: delete-after-available` its image is queued for deletion (deletions.ts);
 * under `keep` (the default) it stays, recorded. Only images this importer made for this key,
 * as their records prove, are ever touched; the object's tags are the current version's.
 */
export async function supersedeEarlier(current: ImportRecord, currentRecordKey: string, run: TrackRun): Promise<void> {
  for (const entry of await importVersionsOf(run.deps.store, run.layout, current.bucket, current.key, run.retry, currentRecordKey)) {
    const earlier = entry.record;
    if (!earlier.imageId || earlier.imageId === current.imageId) continue;
    // a run that stopped after the record: its queue entry is put again (idempotent)
    if (earlier.state === 'superseded' && earlier.supersededBy?.imageId === current.imageId && earlier.imageDeletion?.state === 'pending')
      await run.retry(() => run.deps.store.putText(run.layout.deletionKey(entry.recordKey, earlier.imageId!), ''));
    await supersede(earlier, entry.recordKey, current, run);
  }
}

/**
 * The other order: an older version's image became available after the object had moved on.
 * If the version the object holds now is available, the older one is superseded by it at once
 * (its pass over the key's history ran while this one was still being made, and will not run
 * again). Otherwise nothing: when the newer version becomes available, its pass finds this one.
 */
export async function supersedeByCurrent(older: ImportRecord, olderRecordKey: string, run: TrackRun): Promise<boolean> {
  const { deps, layout, retry } = run;
  const head = await retry(() => deps.store.head(older.key));
  if (!head || head.etag === older.etag) return false;
  const currentKey = layout.claimKey(older.bucket, older.key, head.etag);
  const current = parseRecord(await retry(() => deps.store.getText(currentKey)));
  if (current?.state !== 'available' || current.key !== older.key || !current.imageId) return false;
  return supersede(older, olderRecordKey, current, run);
}

/** One available version superseded by the key's current one: the queue entry (if deleting), then the record. */
async function supersede(earlier: ImportRecord, recordKey: string, current: ImportRecord, run: TrackRun): Promise<boolean> {
  const { deps, layout, retry, clock } = run;
  if (earlier.state !== 'available' || !earlier.imageId || earlier.imageId === current.imageId) return false;
  const policy = deps.previousPolicy?.(current.bucket, current.key) ?? 'keep';
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
  if (deleting) await retry(() => deps.store.putText(layout.deletionKey(recordKey, earlier.imageId!), ''));
  await retry(() => deps.store.putText(recordKey, encodeRecord(updated)));
  deps.log.info({
    event: 'image-superseded',
    bucket: earlier.bucket,
    key: earlier.key,
    etag: earlier.etag,
    imageId: earlier.imageId,
    by: current.imageId,
    previous: policy,
  });
  return true;
}
