import { writeImporterTags } from '../lifecycle/object-tags';
import { tagIfCurrent as tagVersion, type VersionTagging } from '../lifecycle/version-tags';
import { encodeRecord, parseRecord, withHistory, type ImportRecord } from '../state/records';
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
  const text = await retry(() => store.getText(p.recordKey));
  const record = parseRecord(text);
  if (!record || (record.imageId && record.imageId !== p.imageId)) {
    const why = record
      ? `the record follows another image (${record.imageId})`
      : text === undefined
        ? 'no import record'
        : 'the import record does not parse';
    log.warn({ event: 'state-object-invalid', key: p.pendingKey, imageId: p.imageId, reason: why });
    run.removePending(p.pendingKey);
    return false;
  }
  // a run that stopped before its index entries went: the record holds it; the tags (idempotent)
  // and the entry are what may be left
  if (record.state === state && record.imageId === p.imageId) {
    await tagIfCurrent(record, p.imageId, state, error, run);
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
  for (const disk of record.disks ?? [])
    await retry(() => writeImporterTags(store, log, { key: disk, ifUnowned: true }, state, { imageId: p.imageId, error }));
  run.removePending(p.pendingKey);
  const ageSec = Math.round((clock.now() - p.since) / 1000);
  log.info({
    event: 'import-status',
    bucket: record.bucket,
    key: record.key,
    imageId: p.imageId,
    from: record.state,
    to: state,
    ensStatus,
    errorCode: error,
    ageSec,
  });
  const olderVersion = tagged === 'newer-version' ? { olderVersion: { etag: record.etag } } : {};
  await deps.notify?.({
    outcome: state,
    bucket: record.bucket,
    key: record.key,
    imageId: p.imageId,
    errorCode: error,
    by: 'tracker',
    ...olderVersion,
  });
  return true;
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
