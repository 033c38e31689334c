import { acquireLease, type LeaseCodec, type LeaseOutcome } from '../state/lease';
import { encodeLock, parseLock, type TrackerLock } from '../state/records';
import type { TrackRun } from './types';

/** One tracker run at a time, through the same lease as the claims. */

const lockCodec: LeaseCodec<TrackerLock> = {
  parse: parseLock,
  encode: encodeLock,
  generation: (l) => l.generation,
  holder: (l) => l.holder,
};

/** a tracker run lasts at most FC's timeout (24 h) plus the lock's grace */
const MAX_RUN_HOLD_MS = 24 * 3_600_000 + 120_000;
const STALE_MARKER_MS = 120_000;

export function acquireTrackerLock(run: TrackRun): Promise<LeaseOutcome<TrackerLock>> {
  const { deps, clock, layout } = run;
  const holder = `${deps.requestId}@${new Date(clock.now()).toISOString()}`;
  const lockBody = (generation: number): TrackerLock => ({ holder, until: new Date(deps.runDeadline + 60_000).toISOString(), generation });
  const live = (l: TrackerLock) => Date.parse(l.until) > clock.now() && Date.parse(l.until) < clock.now() + MAX_RUN_HOLD_MS;
  return acquireLease(deps.lockStore ?? deps.store, {
    key: layout.trackerLockKey,
    markerKey: (g) => layout.markerKey(layout.trackerLockKey, g),
    asideKey: (g) => layout.asideKey(layout.trackerLockKey, g),
    fresh: lockBody(0),
    successor: (_previous, generation) => lockBody(generation),
    // a lock held further out than a run can last is forged or broken: stale
    decide: (current) => (current && live(current) ? 'keep' : 'take'),
    codec: lockCodec,
    holder,
    now: clock.now,
    staleMarkerMs: deps.runDeadline - clock.now() + STALE_MARKER_MS,
  });
}

/** Release the lock, and clear markers of takers that died before removing them. */
export async function releaseTrackerLock(run: TrackRun): Promise<void> {
  const { deps, clock, layout } = run;
  const store = deps.lockStore ?? deps.store;
  await store.delete(layout.trackerLockKey).catch(() => undefined);
  const markers = await store.listPage(`${layout.trackerLockKey}.g`, undefined, 20).catch(() => ({ objects: [] }));
  for (const o of markers.objects) {
    if (Date.parse(o.lastModified) + STALE_MARKER_MS < clock.now()) await store.delete(o.key).catch(() => undefined);
  }
}
