import type { ObjectStore } from '../adapters/object-store';
import { encodeMarker, parseMarker } from './records';

/**
 * One lease, used by the claim and by the tracker lock. A lease object is created if
 * absent; one whose holder is gone is taken over by exactly one taker, decided by a
 * create-if-absent marker `<key>.g<generation>`, which is removed once the new body is
 * written. A marker left by a taker that died is stale after `staleMarkerMs` and removed
 * by the next taker, so no leftover can block the lease for good.
 *
 * A body that does not parse was not written by the importer (OSS writes objects whole): the
 * taker copies it aside to `<key>.unreadable.g<n>` (kept for `why`) and its successor is told,
 * so a claim can treat it as evidence that a call may have been sent.
 */

export interface LeaseCodec<T> {
  parse(body: string | undefined): T | undefined;
  /** the body as written: checked against its schema, throws rather than write a bad one */
  encode(body: T): string;
  generation(body: T): number;
  /** identifies the holder of this very body (request id and start time) */
  holder(body: T): string;
}

export type LeaseOutcome<T> =
  | { kind: 'acquired'; body: T }
  | { kind: 'taken-over'; body: T; previous: T | undefined; invalid: boolean }
  /** the caller's `decide` kept the current body: a live holder, or a finished record */
  | { kind: 'kept'; current: T }
  /** another taker won this round */
  | { kind: 'lost' };

export interface LeaseRequest<T> {
  key: string;
  markerKey(generation: number): string;
  /** the body to create when the key is free */
  fresh: T;
  /** the body that replaces `previous` on a takeover, at `generation`; `unreadable`: there was a body, and it did not parse */
  successor(previous: T | undefined, generation: number, unreadable: boolean): T;
  /** where an unreadable body is set aside before it is replaced */
  asideKey(generation: number): string;
  /** take over the current body, or keep it; undefined means the body failed to parse */
  decide(current: T | undefined): 'take' | 'keep';
  codec: LeaseCodec<T>;
  holder: string;
  now: () => number;
  staleMarkerMs: number;
}

export async function acquireLease<T>(store: ObjectStore, r: LeaseRequest<T>): Promise<LeaseOutcome<T>> {
  for (let round = 0; round < 3; round++) {
    if (await store.createIfAbsent(r.key, r.codec.encode(r.fresh))) return { kind: 'acquired', body: r.fresh };
    const text = await store.getText(r.key);
    if (text === undefined) continue; // released between our create and read: try again
    const current = r.codec.parse(text);
    // our own create, whose answer was lost and retried
    if (current && r.codec.holder(current) === r.holder && r.codec.generation(current) === r.codec.generation(r.fresh)) {
      return { kind: 'acquired', body: current };
    }
    if (r.decide(current) === 'keep' && current) return { kind: 'kept', current };
    const generation = (current ? r.codec.generation(current) : 0) + 1;
    const marker = r.markerKey(generation);
    const markerBody = encodeMarker({ holder: r.holder, at: new Date(r.now()).toISOString() });
    if (!(await store.createIfAbsent(marker, markerBody))) {
      const existing = parseMarker(await store.getText(marker));
      // our own marker, whose answer was lost and retried
      if (existing?.holder === r.holder) return finishTakeover(store, r, text, current, generation, marker);
      const stale = !existing || Date.parse(existing.at) + r.staleMarkerMs < r.now();
      if (!stale) return { kind: 'lost' };
      // left by a taker that died between its marker and its write: clear it, start over
      await store.delete(marker);
      continue;
    }
    return finishTakeover(store, r, text, current, generation, marker);
  }
  return { kind: 'lost' };
}

async function finishTakeover<T>(
  store: ObjectStore,
  r: LeaseRequest<T>,
  read: string,
  current: T | undefined,
  generation: number,
  marker: string,
): Promise<LeaseOutcome<T>> {
  // The marker decides between takers that read the same body; a taker that read an
  // older body (before a release and a fresh create) sees the change here and backs off.
  const check = await store.getText(r.key);
  if (check !== read) {
    await store.delete(marker);
    return { kind: 'lost' };
  }
  const unreadable = current === undefined;
  // the only copy of what was there: kept before it is replaced
  if (unreadable) await store.putText(r.asideKey(generation), read);
  const body = r.successor(current, generation, unreadable);
  await store.putText(r.key, r.codec.encode(body));
  // a marker that outlives this call is cleared as stale by the next taker
  await store.delete(marker).catch(() => undefined);
  return { kind: 'taken-over', body, previous: current, invalid: unreadable };
}
