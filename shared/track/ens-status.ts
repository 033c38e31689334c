import type { SelfImage } from '../adapters/ens';
import type { AccountListing } from './account-listing';
import type { PendingImport, TrackerSettings, TrackRun } from './types';

// The stand-in keeps its own copy of these statuses (local/ens/images.ts): an emulator
// must not share code with what it checks.
export const FAILED = new Set(['Pack_failed', 'Upload_failed', 'Unavailable']);

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

/** ImageId → ENS status ('' when ENS does not know it); ids not reached this run are absent. */
export async function describeStatuses(pending: PendingImport[], run: TrackRun, listing: AccountListing): Promise<Map<string, string>> {
  const { deps, summary, retry, clock } = run;
  const { settings, ens } = deps;
  const status = new Map<string, string>();
  if (!pending.length) return status;
  await listing.seek(
    pending.map((p) => p.imageId),
    Math.min(...pending.map((p) => p.since)),
  );
  for (const p of pending) {
    const known = listing.statuses.get(p.imageId);
    if (known !== undefined) status.set(p.imageId, known);
  }
  // Not seen in the listing: ask by id. Only an id ENS does not know by id is missing.
  for (const p of pending) {
    if (status.has(p.imageId)) continue;
    if (clock.now() >= deps.runDeadline) break;
    // young and unseen in a complete listing: it will show in a later run's; no call needed yet
    if (listing.listedAll && clock.now() - p.since <= settings.missingGraceMs) {
      status.set(p.imageId, 'Creating');
      continue;
    }
    summary.describeCalls += 1;
    const r = await retry((msLeft) =>
      ens.describeSelfImages({ ImageId: p.imageId, PageSize: settings.pageSize }, Math.min(msLeft, 10_000)),
    );
    const hit = r.images.find((i: SelfImage) => i.ImageId === p.imageId);
    status.set(p.imageId, hit ? hit.Status : '');
  }
  return status;
}
