import { writeImporterTags } from '../lifecycle/object-tags';
import { tagIfCurrent as tagVersion, type VersionTagging } from '../lifecycle/version-tags';
import { encodeRecord, parseRecord, withHistory, type ImportRecord } from '../state/records';
import { supersedeByCurrent, supersedeEarlier } from './supersede';
import type { PendingImport, TrackRun } from './types';

/**
 * One import reached its end: the record first (it is the truth the tags come from), then
 * the tags while the object still holds that version, then the index entry goes.
 */
export async function applyChange(
  p: PendingImport,
  state: 'available' | 'failed',
  error: string | undefined,
  ensStatus: string | undefined,
  run: TrackRun,
): Promise<boolean> {
  const { deps, retry, clock } = run;
  const { store, log } = deps;
  const record = await recordFollowing(p, run);
  if (!record) return false;
  if (state === 'available') run.keyHistory.noteAvailable(record.bucket, record.key);
  // a run that stopped before its index entries went: the record holds it; the tags (idempotent)
  // and the entry are what may be left
  if (record.state === state && record.imageId === p.imageId) {
    const tagged = await tagIfCurrent(record, p.imageId, state, error, run);
    if (!(await supersedeFor(record, p, state, tagged, run))) await keepRechecking(p, state, error, run);
    run.removePending(p.pendingKey);
    return false;
  }
  // superseded before the run that made it available could remove its entry: nothing left to do
  if (record.state === 'superseded' && record.imageId === p.imageId) {
    run.removePending(p.pendingKey);
    return false;
  }

  const at = new Date(clock.now()).toISOString();
  const updated: ImportRecord = {
    ...record,
    state,
    imageId: p.imageId,
    ...(error ? { errorCode: error } : {}),
    history: withHistory(record, state, at, ensStatus ? `ENS status ${ensStatus}` : undefined),
  };
  await retry(() => store.putText(p.recordKey, encodeRecord(updated)));
  const tagged = await tagIfCurrent(record, p.imageId, state, error, run);
  const superseded = await supersedeFor(updated, p, state, tagged, run);
  for (const disk of record.disks ?? [])
    await retry(() => writeImporterTags(store, log, { key: disk, ifUnowned: true }, state, { imageId: p.imageId, error }));
  if (!superseded) await keepRechecking(p, state, error, run);
  run.removePending(p.pendingKey);
  await sayChange(p, record, { state, error, ensStatus, tagged }, run);
  return true;
}

/**
 * An available version the object holds supersedes the key's earlier versions; one the object
 * no longer holds is itself superseded if the version it holds is available (true: it was).
 */
async function supersedeFor(
  record: ImportRecord,
  p: PendingImport,
  state: 'available' | 'failed',
  tagged: VersionTagging,
  run: TrackRun,
): Promise<boolean> {
  if (state !== 'available') return false;
  if (tagged === 'written' && run.keyHistory.mayHaveEarlier(record.bucket, record.key)) await supersedeEarlier(record, p.recordKey, run);
  return tagged === 'newer-version' && (await supersedeByCurrent(record, p.recordKey, run));
}

/** The import record this pending entry follows; an entry without one leaves the index. */
async function recordFollowing(p: PendingImport, run: TrackRun): Promise<ImportRecord | undefined> {
  const { store, log } = run.deps;
  const text = await run.retry(() => store.getText(p.recordKey));
  const record = parseRecord(text);
  if (record && (!record.imageId || record.imageId === p.imageId)) return record;
  const why = record
    ? `the record follows another image (${record.imageId})`
    : text === undefined
      ? 'no import record'
      : 'the import record does not parse';
  log.warn({ event: 'state-object-invalid', key: p.pendingKey, imageId: p.imageId, reason: why });
  run.removePending(p.pendingKey);
  return undefined;
}

/** The change's log line and notice (an older version's notice says so). */
async function sayChange(
  p: PendingImport,
  record: ImportRecord,
  c: { state: 'available' | 'failed'; error?: string; ensStatus?: string; tagged: VersionTagging },
  run: TrackRun,
): Promise<void> {
  const { deps, clock } = run;
  const ageSec = Math.round((clock.now() - p.since) / 1000);
  const { bucket, key } = record;
  const fields = { bucket, key, imageId: p.imageId, from: record.state, to: c.state, ensStatus: c.ensStatus, errorCode: c.error };
  deps.log.info({ event: 'import-status', ...fields, ageSec });
  const olderVersion = c.tagged === 'newer-version' ? { olderVersion: { etag: record.etag } } : {};
  await deps.notify?.({ outcome: c.state, bucket, key, imageId: p.imageId, errorCode: c.error, by: 'tracker', ...olderVersion });
}

/**
 * An available image, or an import that timed out (ENS may still finish it), moves from the
 * pending index to the images index, which the tracker keeps re-checking (recheck.ts).
 */
async function keepRechecking(p: PendingImport, state: 'available' | 'failed', error: string | undefined, run: TrackRun): Promise<void> {
  if (state === 'available' || error === 'import-timeout') {
    const entry = run.layout.imageKey(p.recordKey, p.imageId);
    await run.retry(() => run.deps.store.putText(entry, ''));
    run.indexedThisRun.add(entry);
  }
}

/** The tags only while the object still holds this version (the door's rule): a newer upload has its own. */
function tagIfCurrent(
  record: ImportRecord,
  imageId: string,
  state: 'available' | 'failed',
  error: string | undefined,
  run: TrackRun,
): Promise<VersionTagging> {
  const { store, log } = run.deps;
  return tagVersion(store, log, { key: record.key, etag: record.etag }, state, { imageId, error }, run.retry);
}
