import { tagIfCurrent, type VersionTagging } from '../lifecycle/version-tags';
import { encodeRecheck, encodeRecord, parseRecheck, parseRecord, withHistory, type ImportRecord } from '../state/records';
import type { AccountListing } from './account-listing';
import { supersedeByCurrent, supersedeEarlier } from './supersede';
import { FAILED } from './ens-status';
import type { TrackRun } from './types';

/**
 * ENS is the truth for images. The images index (`images/<hash>~<imageId>`) holds every image
 * the tracker saw become available, and every import it timed out (ENS may still finish it).
 * Each run re-checks the next stretch of it, from where the last run stopped (`recheck.json`),
 * against the same account listing the run reads for pending imports (50 images a call):
 *
 * - an available image ENS no longer has is `deleted`: its record says so, the object's tags
 *   too while it holds that version, a notice goes out, and its entry leaves the index; the
 *   version may then be imported again (retry, a re-upload, a metadata change);
 * - a timed-out import ENS finished after all becomes `available` (record, tags, notice);
 * - a timed-out import ENS failed takes ENS's status as its error.
 */

/** index entries re-checked a run at most */
export const RECHECK_BATCH = 500;

type Verdict = { to: 'deleted' | 'available' | 'failed'; error?: string; ensStatus?: string } | undefined;

export async function recheckImages(run: TrackRun, listing: AccountListing): Promise<void> {
  const { deps, layout, clock, retry, summary } = run;
  if (clock.now() >= deps.runDeadline) return;
  const cursor = parseRecheck(await retry(() => deps.store.getText(layout.recheckCursorKey)));
  const page = await retry(() => deps.store.listPage(layout.imagesPrefix, undefined, RECHECK_BATCH, cursor?.after || undefined));
  const entries = page.objects.flatMap((o) => {
    const parsed = layout.parseImageKey(o.key);
    return parsed ? [{ ...parsed, key: o.key }] : [];
  });
  // nothing to re-check, and no pass under way: nothing to write either
  if (!entries.length && !cursor?.after) return;
  await listing.seek(
    entries.map((e) => e.imageId),
    0,
  );
  summary.rechecked = 0;
  let before = cursor?.after ?? '';
  for (const e of entries) {
    // an image the listing did not reach this run is the first of the next
    if (clock.now() >= deps.runDeadline || (!listing.listedAll && !listing.statuses.has(e.imageId)))
      return saveCursor(run, cursor, before, false);
    summary.rechecked += 1;
    if (!run.indexedThisRun.has(e.key)) await recheckOne(run, e, await statusOf(run, listing, e.imageId));
    before = e.key;
  }
  // the end of the index: the next run starts a new pass
  const done = !page.nextToken;
  await saveCursor(run, cursor, done ? '' : (entries.at(-1)?.key ?? ''), done);
}

async function saveCursor(run: TrackRun, cursor: ReturnType<typeof parseRecheck>, after: string, passDone: boolean): Promise<void> {
  const { deps, layout, clock, retry } = run;
  const next = { after, passes: (cursor?.passes ?? 0) + (passDone ? 1 : 0), at: new Date(clock.now()).toISOString() };
  await retry(() => deps.store.putText(layout.recheckCursorKey, encodeRecheck(next)));
}

/** The listing's word; an image it did not show is asked for by id before it is called gone (pages shift). */
async function statusOf(run: TrackRun, listing: AccountListing, imageId: string): Promise<string | undefined> {
  const listed = listing.statuses.get(imageId);
  if (listed !== undefined) return listed;
  const { deps, summary, retry } = run;
  summary.describeCalls += 1;
  const r = await retry((msLeft) =>
    deps.ens.describeSelfImages({ ImageId: imageId, PageSize: deps.settings.pageSize }, Math.min(msLeft, 10_000)),
  );
  return r.images.find((i) => i.ImageId === imageId)?.Status;
}

function verdictFor(record: ImportRecord, status: string | undefined): Verdict {
  if (status === undefined) return record.state === 'available' ? { to: 'deleted', error: 'image-deleted' } : undefined;
  if (status === 'Available' && record.state !== 'available') return { to: 'available', ensStatus: status };
  if (FAILED.has(status) && record.state === 'failed' && record.errorCode !== status)
    return { to: 'failed', error: status, ensStatus: status };
  return undefined;
}

async function recheckOne(run: TrackRun, e: { imageId: string; claimKey: string; key: string }, status: string | undefined): Promise<void> {
  const { deps, clock, retry } = run;
  const record = parseRecord(await retry(() => deps.store.getText(e.claimKey)));
  // the index names an image its record no longer follows (a newer attempt, a forged entry): it goes
  if (!record || record.imageId !== e.imageId || !['available', 'failed', 'deleted'].includes(record.state)) {
    await retry(() => deps.store.delete(e.key));
    return;
  }
  const verdict = verdictFor(record, status);
  if (!verdict) {
    // a run that stopped between a final record and its tags: the record is said again, the entry goes
    if (record.state === 'deleted' || (record.state === 'failed' && FAILED.has(record.errorCode ?? ''))) {
      await tagIfCurrent(deps.store, deps.log, record, record.state, { imageId: e.imageId, error: record.errorCode }, retry);
      await retry(() => deps.store.delete(e.key));
    }
    return;
  }
  const note = verdict.to === 'deleted' ? 'ENS no longer has the image' : `ENS status ${verdict.ensStatus}, seen late`;
  const { tagged, updated } = await moveImageState(deps, e.claimKey, record, { ...verdict, note }, clock.now(), retry);
  // finished late: it supersedes the key's earlier versions if the object holds it, else it is
  // superseded if the version the object holds is available
  if (verdict.to === 'available' && tagged === 'written') await supersedeEarlier(updated, e.claimKey, run);
  const superseded = verdict.to === 'available' && tagged === 'newer-version' && (await supersedeByCurrent(updated, e.claimKey, run));
  // a deleted, finally failed or superseded image is re-checked no more
  if (verdict.to !== 'available' || superseded) await retry(() => deps.store.delete(e.key));
  run.summary.changed += 1;
  deps.log.info({
    event: 'image-rechecked',
    bucket: record.bucket,
    key: record.key,
    imageId: e.imageId,
    from: record.state,
    to: verdict.to,
    ensStatus: status ?? 'absent',
    errorCode: verdict.error,
  });
  const older = tagged === 'newer-version' ? { olderVersion: { etag: record.etag } } : {};
  await deps.notify?.({
    outcome: verdict.to,
    bucket: record.bucket,
    key: record.key,
    imageId: e.imageId,
    errorCode: verdict.error,
    by: 'tracker',
    ...older,
  });
}

/**
 * What ENS says of an image, made durable: the record first, then the object's tags while it
 * holds that version. Used by the tracker's re-check and by `ens-importer retry --force`.
 */
export async function moveImageState(
  deps: { store: TrackRun['deps']['store']; log: TrackRun['deps']['log'] },
  claimKey: string,
  record: ImportRecord,
  change: { to: 'deleted' | 'available' | 'failed'; error?: string; note: string },
  now: number,
  retry: <T>(call: () => Promise<T>) => Promise<T> = (call) => call(),
): Promise<{ tagged: VersionTagging; updated: ImportRecord }> {
  const { errorCode: _e, ...rest } = record;
  const updated: ImportRecord = {
    ...rest,
    state: change.to,
    ...(change.error ? { errorCode: change.error } : {}),
    history: withHistory(record, change.to, new Date(now).toISOString(), change.note),
  };
  await retry(() => deps.store.putText(claimKey, encodeRecord(updated)));
  const tagged = await tagIfCurrent(deps.store, deps.log, record, change.to, { imageId: record.imageId, error: change.error }, retry);
  return { tagged, updated };
}
