import { EnsCallError } from '../adapters/ens';
import { OssCallError } from '../adapters/object-store';
import { AccountListing } from './account-listing';
import { realClock, type Clock } from '../core/clock';
import { retryTransient } from '../core/retry';
import { stateLayout } from '../state/layout';
import { applyChange } from './apply-change';
import { classifyImport, describeStatuses } from './ens-status';
import { followDeletions } from './deletions';
import { KeyHistoryScan } from './key-history-scan';
import { recheckImages } from './recheck';
import { acquireTrackerLock, releaseTrackerLock } from './tracker-lock';
import type { PendingImport, TrackerDeps, TrackRun, TrackSummary } from './types';

export { classifyImport, FAILED } from './ens-status';
export type { PendingImport, TrackerDeps, TrackerSettings, TrackSummary } from './types';

/**
 * Follows every import to its end, out of band: the pending index gives the ImageIds,
 * DescribeSelfImages (paged, 50 a call) gives their status, and each change is written
 * to the import record, the object's tags (only while it still holds that version) and
 * the index.
 */

const isTransient = (err: unknown): boolean => (err instanceof EnsCallError || err instanceof OssCallError) && err.transient;
const codeOf = (err: unknown): string => (err as { code?: string }).code ?? 'InternalError';
/** a RAM refusal names the action the role lacks (undefined, and so not logged, otherwise) */
const actionOf = (err: unknown): string | undefined => (err as { action?: string }).action;

export async function trackImports(deps: TrackerDeps): Promise<TrackSummary> {
  const clock = deps.clock ?? realClock;
  const run = newRun(deps, clock);
  const { summary, deps: d } = run;
  let lock: Awaited<ReturnType<typeof acquireTrackerLock>>;
  try {
    lock = await acquireTrackerLock(run);
  } catch (err) {
    summary.errors += 1;
    summary.skipped = `the tracker lock could not be read or written: ${(err as Error).message}`;
    d.log.error({ ...summary });
    return summary;
  }
  if (lock.kind === 'kept' || lock.kind === 'lost') {
    summary.skipped =
      lock.kind === 'kept'
        ? `another run (${lock.current.holder}) holds the lock until ${lock.current.until}`
        : 'another run is taking over the stale lock';
    d.log.info({ ...summary });
    return summary;
  }
  if (lock.kind === 'taken-over') d.log.warn({ event: 'tracker-lock-taken-over', previous: lock.previous?.holder ?? 'unreadable lock' });
  try {
    const listing = new AccountListing(run);
    await followPending(run, listing);
    // ENS is the truth for images: the next stretch of the images index, on the same listing
    await recheckImages(run, listing);
    // superseded versions' images that previous: delete-after-available deletes
    if (clock.now() < d.runDeadline) await followDeletions(run);
    if (d.expireWaitingManifests && clock.now() < d.runDeadline) summary.manifestsExpired = await d.expireWaitingManifests();
    summary.complete = clock.now() < d.runDeadline && summary.errors === 0;
  } catch (err) {
    summary.errors += 1;
    d.log.error({ event: 'track-error', errorCode: codeOf(err), missingAction: actionOf(err), reason: (err as Error).message });
  } finally {
    // what was applied leaves the index even when the run ends on an error
    await run.flushRemovals().catch(() => undefined);
    await releaseTrackerLock(run);
  }
  d.log.info({ ...summary });
  return summary;
}

/** One run's context: its summary, its retry policy, and the index entries it will remove. */
function newRun(deps: TrackerDeps, clock: Clock): TrackRun {
  const removals: string[] = [];
  const policy = { deadline: deps.runDeadline, now: clock.now, sleep: clock.sleep, random: clock.random, baseMs: 200, maxMs: 5000 };
  const layout = stateLayout(deps.settings.statePrefix);
  const retry: TrackRun['retry'] = (fn) => retryTransient((_a, msLeft) => fn(msLeft), isTransient, policy).then((r) => r.value);
  return {
    deps,
    clock,
    layout,
    summary: {
      event: 'track-summary',
      pending: 0,
      changed: 0,
      counts: { importing: 0, available: 0, failed: 0 },
      describeCalls: 0,
      complete: false,
      errors: 0,
    },
    retry,
    removePending: (key) => void removals.push(key),
    indexedThisRun: new Set(),
    // through the lock's store: its calls may use the margin after the run's deadline, so what
    // a run applied leaves the index even when the run stops at its deadline
    flushRemovals: async () => {
      const store = deps.lockStore ?? deps.store;
      while (removals.length) {
        const batch = removals.splice(0, 1000);
        await store.deleteMany(batch);
      }
    },
    keyHistory: new KeyHistoryScan({ store: deps.store, layout, retry, now: () => clock.now(), deadline: deps.runDeadline }),
  };
}

/**
 * The pending index a listing page at a time (up to 1,000 entries), so a run's memory follows
 * one page, not the index; a name that is not an index entry is removed.
 */
/** index entries a page: a 1,000-key ListObjectsV2 answer parses into a tree of several MiB */
const PENDING_PAGE = 1000;

async function* pendingPages(run: TrackRun): AsyncGenerator<PendingImport[]> {
  const { deps, layout, clock } = run;
  let token: string | undefined;
  do {
    const page = await run.retry(() => deps.store.listPage(layout.pendingPrefix, token, PENDING_PAGE));
    token = page.nextToken;
    const pending: PendingImport[] = [];
    for (const o of page.objects) {
      const parsed = layout.parsePendingKey(o.key);
      if (parsed)
        pending.push({ imageId: parsed.imageId, recordKey: parsed.claimKey, pendingKey: o.key, since: Date.parse(o.lastModified) });
      else {
        deps.log.warn({ event: 'state-object-invalid', key: o.key, reason: 'not a pending-index name; removed' });
        run.removePending(o.key);
      }
    }
    yield pending;
  } while (token && clock.now() < deps.runDeadline);
}

async function followPending(run: TrackRun, listing: AccountListing): Promise<void> {
  for await (const page of pendingPages(run)) {
    await followPage(page, run, listing);
    // the page's finished entries leave the index together (DeleteMultipleObjects)
    await run.flushRemovals();
    if (run.clock.now() >= run.deps.runDeadline) break;
  }
}

async function followPage(pending: PendingImport[], run: TrackRun, listing: AccountListing): Promise<void> {
  const { deps, clock, summary } = run;
  summary.pending += pending.length;
  // an image not seen in the account listing is asked for by ImageId before it is called missing
  const status = await describeStatuses(pending, run, listing);
  if (pending.length) {
    const oldest = Math.round((clock.now() - Math.min(...pending.map((p) => p.since))) / 1000);
    summary.oldestPendingAgeSec = Math.max(summary.oldestPendingAgeSec ?? 0, oldest);
  }
  const changes: { p: PendingImport; state: 'available' | 'failed'; error?: string; known?: string }[] = [];
  for (const p of pending) {
    if (!status.has(p.imageId)) {
      summary.counts.importing += 1; // not reached this run
      continue;
    }
    const known = status.get(p.imageId) || undefined;
    const verdict = classifyImport(known, clock.now() - p.since, deps.settings);
    summary.counts[verdict.state] += 1;
    if (verdict.state !== 'importing')
      changes.push({ p, state: verdict.state, error: verdict.state === 'failed' ? verdict.error : undefined, known });
  }
  // the key history read once, when cheaper than a listing per available change
  await run.keyHistory.prepare(changes.filter((c) => c.state === 'available').length);
  // each change touches its own record, object and index entry: a few at once, until the deadline
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < changes.length && clock.now() < deps.runDeadline) {
      const c = changes[next++]!;
      try {
        if (await applyChange(c.p, c.state, c.error, c.known, run)) summary.changed += 1;
      } catch (err) {
        summary.errors += 1;
        deps.log.error({
          event: 'track-error',
          imageId: c.p.imageId,
          errorCode: codeOf(err),
          missingAction: actionOf(err),
          reason: (err as Error).message,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.settings.applyConcurrency ?? 1, Math.max(1, changes.length)) }, worker));
}
