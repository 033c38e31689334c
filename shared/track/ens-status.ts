import type { SelfImage } from '../adapters/ens';
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
export async function describeStatuses(pending: PendingImport[], run: TrackRun): Promise<Map<string, string>> {
  const { deps, summary, retry, clock } = run;
  const { settings, ens } = deps;
  const status = new Map<string, string>();
  const wanted = new Set(pending.map((p) => p.imageId));
  const sinceOf = new Map(pending.map((p) => [p.imageId, p.since]));
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
    const since = sinceOf.get(id)!;
    // young and unseen: it will show in a later run's listing; no call needed yet
    if (listedAll && clock.now() - since <= settings.missingGraceMs) {
      status.set(id, 'Creating');
      continue;
    }
    await byId(id);
  }
  return status;
}
