import { EnsCallError, type EnsApi, type SelfImage } from './adapters/ens';
import { OssCallError, listAll, type ObjectStore } from './adapters/object-store';
import { realClock, type Clock } from './clock';
import type { Logger } from './logger';
import { writeImporterTags } from './object-tags';
import { retryTransient } from './retry';
import { acquireLease, type LeaseCodec } from './state/lease';
import { stateLayout, type StateLayout } from './state/layout';
import { parseLock, parseRecord, withHistory, type ImportRecord, type TrackerLock } from './state/records';

/**
 * Follows every import to its end, out of band: the pending index gives the ImageIds,
 * DescribeSelfImages (paged, 50 a call) gives their status, and each change is written
 * to the import record, the object's tags (only while it still holds that version) and
 * the index.
 */

// The stand-in keeps its own copy of these statuses (local/ens/images.ts): an emulator
// must not share code with what it checks.
export const IN_PROGRESS = new Set(['Creating', 'Packing', 'Uploading', 'Copying']);
export const FAILED = new Set(['Pack_failed', 'Upload_failed', 'Unavailable']);

export interface TrackerSettings {
  statePrefix: string;
  /** an import pending longer than this fails with import-timeout */
  importTimeoutMs: number;
  /** an ImageId ENS does not list is only called missing after this long */
  missingGraceMs: number;
  pageSize: number;
}

export interface TrackerDeps {
  settings: TrackerSettings;
  store: ObjectStore;
  ens: EnsApi;
  log: Logger;
  requestId: string;
  /** epoch ms at which the run stops starting new work */
  runDeadline: number;
  clock?: Clock;
  /** Run the manifests whose wait for missing disks is over (they import or are rejected). */
  expireWaitingManifests?: () => Promise<number>;
}

export interface PendingImport {
  imageId: string;
  recordKey: string;
  pendingKey: string;
  since: number;
}

export interface TrackSummary {
  event: 'track-summary';
  pending: number;
  changed: number;
  counts: Record<'importing' | 'available' | 'failed', number>;
  oldestPendingAgeSec?: number;
  describeCalls: number;
  complete: boolean;
  skipped?: string;
  errors: number;
  manifestsExpired?: number;
}

/** Decide what an ENS status means for a pending import (pure). */
export function classifyImport(
  status: string | undefined,
  ageMs: number,
  settings: Pick<TrackerSettings, 'importTimeoutMs' | 'missingGraceMs'>,
): { state: 'importing' } | { state: 'available' } | { state: 'failed'; error: string } {
  if (status === 'Available') return { state: 'available' };
  if (status && FAILED.has(status)) return { state: 'failed', error: status };
  if (status === undefined) {
    return ageMs > settings.missingGraceMs ? { state: 'failed', error: 'image-missing' } : { state: 'importing' };
  }
  // in progress, or a status this tracker does not know yet: wait, up to the deadline
  return ageMs > settings.importTimeoutMs ? { state: 'failed', error: 'import-timeout' } : { state: 'importing' };
}

const isTransient = (err: unknown): boolean => (err instanceof EnsCallError || err instanceof OssCallError) && err.transient;

const lockCodec: LeaseCodec<TrackerLock> = { parse: parseLock, generation: (l) => l.generation, holder: (l) => l.holder };

/** a tracker run lasts at most FC's timeout (24 h) plus the lock's grace */
const MAX_RUN_HOLD_MS = 24 * 3_600_000 + 120_000;

type Retry = <T>(fn: (msLeft: number) => Promise<T>) => Promise<T>;

export async function trackImports(deps: TrackerDeps): Promise<TrackSummary> {
  const clock = deps.clock ?? realClock;
  const { settings, store, log } = deps;
  const layout = stateLayout(settings.statePrefix);
  const retry: Retry = (fn) =>
    retryTransient((_a, msLeft) => fn(msLeft), isTransient, {
      deadline: deps.runDeadline,
      now: clock.now,
      sleep: clock.sleep,
      random: clock.random,
      baseMs: 200,
      maxMs: 5000,
    }).then((r) => r.value);
  const summary: TrackSummary = {
    event: 'track-summary',
    pending: 0,
    changed: 0,
    counts: { importing: 0, available: 0, failed: 0 },
    describeCalls: 0,
    complete: false,
    errors: 0,
  };

  // One run at a time, through the same lease as the claims.
  const holder = `${deps.requestId}@${new Date(clock.now()).toISOString()}`;
  const lockBody = (generation: number): TrackerLock => ({ holder, until: new Date(deps.runDeadline + 60_000).toISOString(), generation });
  let lock: Awaited<ReturnType<typeof acquireLease<TrackerLock>>>;
  try {
    lock = await acquireLease(store, {
      key: layout.trackerLockKey,
      markerKey: (g) => layout.markerKey(layout.trackerLockKey, g),
      fresh: lockBody(0),
      successor: (_previous, generation) => lockBody(generation),
      // a lock held further out than a run can last is forged or broken: stale
      decide: (current) =>
        current && Date.parse(current.until) > clock.now() && Date.parse(current.until) < clock.now() + MAX_RUN_HOLD_MS ? 'keep' : 'take',
      codec: lockCodec,
      holder,
      now: clock.now,
      staleMarkerMs: deps.runDeadline - clock.now() + 120_000,
    });
  } catch (err) {
    summary.errors += 1;
    summary.skipped = `the tracker lock could not be read or written: ${(err as Error).message}`;
    log.error({ ...summary });
    return summary;
  }
  if (lock.kind === 'kept' || lock.kind === 'lost') {
    summary.skipped =
      lock.kind === 'kept'
        ? `another run (${lock.current.holder}) holds the lock until ${lock.current.until}`
        : 'another run is taking over the stale lock';
    log.info({ ...summary });
    return summary;
  }
  if (lock.kind === 'taken-over') log.warn({ event: 'tracker-lock-taken-over', previous: lock.previous?.holder ?? 'unreadable lock' });

  try {
    // 1. The pending index, from listings alone.
    const pending: PendingImport[] = [];
    for await (const o of listAll(store, layout.pendingPrefix, deps.runDeadline, clock.now)) {
      const parsed = layout.parsePendingKey(o.key);
      if (parsed)
        pending.push({ imageId: parsed.imageId, recordKey: parsed.claimKey, pendingKey: o.key, since: Date.parse(o.lastModified) });
      else {
        log.warn({ event: 'state-object-invalid', key: o.key, reason: 'not a pending-index name; removed' });
        await retry(() => store.delete(o.key));
      }
    }
    summary.pending = pending.length;

    // 2. Their ENS status; an image not seen in the listing is asked for by ImageId before
    //    it is called missing (a listing can shift between pages).
    const status = await describeStatuses(pending, deps, summary, retry, clock);

    // 3. Apply each change.
    const oldest = pending.length ? Math.min(...pending.map((p) => p.since)) : undefined;
    if (oldest !== undefined) summary.oldestPendingAgeSec = Math.round((clock.now() - oldest) / 1000);
    for (const p of pending) {
      if (!status.has(p.imageId)) {
        summary.counts.importing += 1; // not reached this run
        continue;
      }
      const known = status.get(p.imageId) || undefined;
      const verdict = classifyImport(known, clock.now() - p.since, settings);
      summary.counts[verdict.state] += 1;
      if (verdict.state === 'importing') continue;
      if (clock.now() >= deps.runDeadline) break;
      try {
        await applyChange(p, verdict.state, verdict.state === 'failed' ? verdict.error : undefined, known, deps, layout, retry, clock);
        summary.changed += 1;
      } catch (err) {
        summary.errors += 1;
        log.error({
          event: 'track-error',
          imageId: p.imageId,
          errorCode: (err as { code?: string }).code ?? 'InternalError',
          reason: (err as Error).message,
        });
      }
    }
    if (deps.expireWaitingManifests && clock.now() < deps.runDeadline) summary.manifestsExpired = await deps.expireWaitingManifests();
    summary.complete = clock.now() < deps.runDeadline && summary.errors === 0;
  } catch (err) {
    summary.errors += 1;
    log.error({ event: 'track-error', errorCode: (err as { code?: string }).code ?? 'InternalError', reason: (err as Error).message });
  } finally {
    await store.delete(layout.trackerLockKey).catch(() => undefined);
    // markers of takers that died before removing them (the next lock starts at generation 0)
    await clearStaleLockMarkers(store, layout, clock).catch(() => undefined);
  }
  log.info({ ...summary });
  return summary;
}

/** ImageId → ENS status ('' when ENS does not know it); ids not reached this run are absent. */
async function describeStatuses(
  pending: PendingImport[],
  deps: TrackerDeps,
  summary: TrackSummary,
  retry: Retry,
  clock: Clock,
): Promise<Map<string, string>> {
  const { settings, ens } = deps;
  const status = new Map<string, string>();
  const wanted = new Set(pending.map((p) => p.imageId));
  const byId = async (id: string): Promise<void> => {
    summary.describeCalls += 1;
    const r = await retry((msLeft) => ens.describeSelfImages({ ImageId: id, PageSize: settings.pageSize }, Math.min(msLeft, 10_000)));
    const hit = r.images.find((i: SelfImage) => i.ImageId === id);
    status.set(id, hit ? hit.Status : '');
  };
  if (!wanted.size) return status;
  // page through the account's images until every pending id is seen, or ask by ImageId
  // when that takes fewer calls
  let total = Number.POSITIVE_INFINITY;
  let listedAll = false;
  for (let pageNumber = 1; (pageNumber - 1) * settings.pageSize < total && clock.now() < deps.runDeadline; pageNumber++) {
    const unseen = [...wanted].filter((id) => !status.has(id));
    if (!unseen.length) break;
    const pagesLeft = Math.ceil((total - (pageNumber - 1) * settings.pageSize) / settings.pageSize);
    if (pageNumber > 1 && unseen.length < pagesLeft) break;
    summary.describeCalls += 1;
    const r = await retry((msLeft) =>
      ens.describeSelfImages({ PageNumber: pageNumber, PageSize: settings.pageSize }, Math.min(msLeft, 10_000)),
    );
    total = r.totalCount;
    for (const image of r.images) if (wanted.has(image.ImageId)) status.set(image.ImageId, image.Status);
    if (pageNumber * settings.pageSize >= total) listedAll = true;
  }
  // Not seen in the listing: ask by id. Only an id ENS does not know by id is missing.
  for (const id of wanted) {
    if (status.has(id)) continue;
    if (clock.now() >= deps.runDeadline) break;
    const since = pending.find((p) => p.imageId === id)!.since;
    // young and unseen: it will show in a later run's listing; no call needed yet
    if (listedAll && clock.now() - since <= settings.missingGraceMs) {
      status.set(id, 'Creating');
      continue;
    }
    await byId(id);
  }
  return status;
}

async function applyChange(
  p: PendingImport,
  state: 'available' | 'failed',
  error: string | undefined,
  ensStatus: string | undefined,
  deps: TrackerDeps,
  _layout: StateLayout,
  retry: Retry,
  clock: Clock,
): Promise<void> {
  const { store, log } = deps;
  const text = await retry(() => store.getText(p.recordKey));
  const record = parseRecord(text);
  const at = new Date(clock.now()).toISOString();
  const from = record?.state ?? 'importing';
  if (!record || (record.imageId && record.imageId !== p.imageId)) {
    log.warn({
      event: 'state-object-invalid',
      key: p.pendingKey,
      imageId: p.imageId,
      reason: record
        ? `the record follows another image (${record.imageId})`
        : text === undefined
          ? 'no import record'
          : 'the import record does not parse',
    });
    await retry(() => store.delete(p.pendingKey));
    return;
  }
  const updated: ImportRecord = {
    ...record,
    state,
    imageId: p.imageId,
    ...(error ? { errorCode: error } : {}),
    history: withHistory(record, state, at, ensStatus ? `ENS status ${ensStatus}` : undefined),
  };
  // the record first: it is the truth the tags are derived from
  await retry(() => store.putText(p.recordKey, JSON.stringify(updated)));
  // The tags only while the object still holds this version: a newer upload has its own.
  const current = await retry(() => store.head(record.key));
  if (current && current.etag === record.etag) {
    await retry(() => writeImporterTags(store, log, { key: record.key, tagCount: current.tagCount }, state, { imageId: p.imageId, error }));
  } else if (current) {
    log.info({
      event: 'tags-not-written',
      bucket: record.bucket,
      key: record.key,
      imageId: p.imageId,
      reason: `the object now holds another version (ETag ${current.etag}); its own import tags it`,
    });
  }
  for (const disk of record.disks ?? [])
    await retry(() => writeImporterTags(store, log, { key: disk }, state, { imageId: p.imageId, error }));
  await retry(() => store.delete(p.pendingKey));
  log.info({
    event: 'import-status',
    bucket: record.bucket,
    key: record.key,
    imageId: p.imageId,
    from,
    to: state,
    ensStatus,
    errorCode: error,
    ageSec: Math.round((clock.now() - p.since) / 1000),
  });
}

async function clearStaleLockMarkers(store: ObjectStore, layout: StateLayout, clock: Clock): Promise<void> {
  const page = await store.listPage(layout.markerKey(layout.trackerLockKey, 0).slice(0, -1), undefined, 20);
  for (const o of page.objects) if (Date.parse(o.lastModified) + 120_000 < clock.now()) await store.delete(o.key);
}
