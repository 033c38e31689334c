import type { EnsApi, SelfImage } from './adapters/ens';
import { EnsCallError } from './adapters/ens';
import { OssCallError, type ObjectStore } from './adapters/oss';
import { parsePendingKey, type ImportRecord, type RecordState } from './claims';
import type { Logger } from './logger';
import { retryTransient } from './retry';
import { TAG_ERROR, TAG_IMAGE_ID, TAG_STATUS, mergeTags } from './tags';

/**
 * Follows every import to its end, out of band: the pending index gives the ImageIds,
 * DescribeSelfImages (paged, 50 a call) gives their status, and each change is written
 * to the object's tags, the import record and the index.
 */

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
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
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

const isTransient = (err: unknown): boolean =>
  (err instanceof EnsCallError || err instanceof OssCallError) && err.transient;

export async function trackImports(deps: TrackerDeps): Promise<TrackSummary> {
  const now = deps.now ?? Date.now;
  const { settings, store, ens, log } = deps;
  const retry = <T>(fn: (msLeft: number) => Promise<T>) =>
    retryTransient((_a, msLeft) => fn(msLeft), isTransient, { deadline: deps.runDeadline, now, sleep: deps.sleep, random: deps.random, baseMs: 200, maxMs: 5000 }).then((r) => r.value);
  const summary: TrackSummary = { event: 'track-summary', pending: 0, changed: 0, counts: { importing: 0, available: 0, failed: 0 }, describeCalls: 0, complete: false, errors: 0 };

  // One run at a time: a lock with a deadline, taken over through a generation marker.
  const lockKey = `${settings.statePrefix}tracker.lock`;
  const lockBody = JSON.stringify({ requestId: deps.requestId, until: new Date(deps.runDeadline + 60_000).toISOString() });
  if (!(await retry(() => store.createIfAbsent(lockKey, lockBody)))) {
    const held = JSON.parse((await retry(() => store.getText(lockKey))) ?? '{}') as { requestId?: string; until?: string; generation?: number };
    if (held.until && Date.parse(held.until) > now()) {
      summary.skipped = `another run (${held.requestId}) holds the lock until ${held.until}`;
      log.info({ ...summary });
      return summary;
    }
    const generation = (held.generation ?? 0) + 1;
    if (!(await retry(() => store.createIfAbsent(`${lockKey}.g${generation}`, lockBody)))) {
      summary.skipped = 'another run is taking over the stale lock';
      log.info({ ...summary });
      return summary;
    }
    await retry(() => store.putText(lockKey, JSON.stringify({ ...JSON.parse(lockBody), generation })));
  }

  try {
    // 1. The pending index, from listings alone.
    const pending: PendingImport[] = [];
    let token: string | undefined;
    do {
      const page = await retry(() => store.listPage(`${settings.statePrefix}pending/`, token));
      for (const o of page.objects) {
        const parsed = parsePendingKey(settings.statePrefix, o.key);
        if (parsed) pending.push({ ...parsed, pendingKey: o.key, since: Date.parse(o.lastModified) });
      }
      token = page.nextToken;
    } while (token && now() < deps.runDeadline);
    summary.pending = pending.length;

    // 2. Their ENS status, 50 images a call: page through the account's images until every
    //    pending id is seen, or ask by ImageId when that takes fewer calls.
    const status = new Map<string, string>();
    const wanted = new Set(pending.map((p) => p.imageId));
    let listedAll = false;
    if (wanted.size) {
      let total = Infinity;
      for (let pageNumber = 1; (pageNumber - 1) * settings.pageSize < total && now() < deps.runDeadline; pageNumber++) {
        const unseen = [...wanted].filter((id) => !status.has(id));
        if (!unseen.length) break;
        const pagesLeft = Math.ceil((total - (pageNumber - 1) * settings.pageSize) / settings.pageSize);
        if (pageNumber > 1 && unseen.length < pagesLeft) {
          for (const id of unseen) {
            if (now() >= deps.runDeadline) break;
            summary.describeCalls += 1;
            const r = await retry((msLeft) => ens.describeSelfImages({ ImageId: id, PageSize: settings.pageSize }, Math.min(msLeft, 10_000)));
            const hit = r.images.find((i: SelfImage) => i.ImageId === id);
            status.set(id, hit ? hit.Status : '');
          }
          listedAll = true;
          break;
        }
        summary.describeCalls += 1;
        const r = await retry((msLeft) => ens.describeSelfImages({ PageNumber: pageNumber, PageSize: settings.pageSize }, Math.min(msLeft, 10_000)));
        total = r.totalCount;
        for (const image of r.images) if (wanted.has(image.ImageId)) status.set(image.ImageId, image.Status);
        if (pageNumber * settings.pageSize >= total) listedAll = true;
      }
    }

    // 3. Apply each change.
    const oldest = pending.length ? Math.min(...pending.map((p) => p.since)) : undefined;
    if (oldest !== undefined) summary.oldestPendingAgeSec = Math.round((now() - oldest) / 1000);
    for (const p of pending) {
      const known = status.get(p.imageId);
      if (known === undefined && !listedAll) {
        summary.counts.importing += 1; // not reached this run
        continue;
      }
      const verdict = classifyImport(known || undefined, now() - p.since, settings);
      summary.counts[verdict.state] += 1;
      if (verdict.state === 'importing') continue;
      if (now() >= deps.runDeadline) break;
      try {
        await applyChange(p, verdict.state, verdict.state === 'failed' ? verdict.error : undefined, known || undefined, deps, retry);
        summary.changed += 1;
      } catch (err) {
        summary.errors += 1;
        log.error({ event: 'track-error', imageId: p.imageId, errorCode: (err as { code?: string }).code ?? 'InternalError', reason: (err as Error).message });
      }
    }
    if (deps.expireWaitingManifests && now() < deps.runDeadline) summary.manifestsExpired = await deps.expireWaitingManifests();
    summary.complete = now() < deps.runDeadline && summary.errors === 0;
  } catch (err) {
    summary.errors += 1;
    log.error({ event: 'track-error', errorCode: (err as { code?: string }).code ?? 'InternalError', reason: (err as Error).message });
  } finally {
    await store.delete(lockKey).catch(() => undefined);
  }
  log.info({ ...summary });
  return summary;
}

async function applyChange(
  p: PendingImport,
  state: 'available' | 'failed',
  error: string | undefined,
  ensStatus: string | undefined,
  deps: TrackerDeps,
  retry: <T>(fn: (msLeft: number) => Promise<T>) => Promise<T>,
): Promise<void> {
  const now = deps.now ?? Date.now;
  const { store } = deps;
  const text = await retry(() => store.getText(p.recordKey));
  const record = text ? (JSON.parse(text) as ImportRecord) : undefined;
  const at = new Date(now()).toISOString();
  const from: RecordState = record?.state ?? 'importing';
  if (record) {
    // The source object's tags (user tags kept; an object deleted meanwhile is fine).
    // the object's tags, and each disk's for a multi-disk image (user tags kept; an object
    // deleted meanwhile is fine)
    for (const key of [record.key, ...(record.disks ?? [])]) {
      const current = await retry(() => store.getTags(key));
      if (!current) continue;
      const merged = mergeTags(current, { [TAG_IMAGE_ID]: p.imageId, [TAG_STATUS]: state, [TAG_ERROR]: error });
      await retry(() => store.putTags(key, merged.tags));
    }
    const updated: ImportRecord = {
      ...record,
      state,
      ...(error ? { errorCode: error } : {}),
      history: [...(record.history ?? []), { state, at, ...(ensStatus ? { note: `ENS status ${ensStatus}` } : {}) }],
    };
    await retry(() => store.putText(p.recordKey, JSON.stringify(updated)));
  }
  await retry(() => store.delete(p.pendingKey));
  deps.log.info({
    event: 'import-status',
    bucket: record?.bucket,
    key: record?.key,
    imageId: p.imageId,
    from,
    to: state,
    ensStatus,
    errorCode: error,
    ageSec: Math.round((now() - p.since) / 1000),
    ...(record ? {} : { reason: 'the import record is gone; only the index entry was removed' }),
  });
}
