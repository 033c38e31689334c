import { createHash } from 'node:crypto';
import { EnsCallError, type EnsApi } from '../adapters/ens';
import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import type { StateLayout } from '../state/layout';
import { imagesOfOtherVersions } from './adoption';
import { importVersionsOf } from '../state/key-versions';
import type { ImportRecord } from '../state/records';
import type { ImportTarget } from './targets';

/**
 * Two keys must not silently make two images of one name. Before ImportImage (`names: unique`,
 * the default), ENS is asked for images of the name: one this key's versions did not make (as
 * their records prove), and that no unanswered attempt of this version may have made, holds
 * the name for another key. A derived name then gets a short suffix from the key (stable: every
 * attempt decides the same); a name given in metadata is refused instead, with the reason.
 */

export type NameChoice = { kind: 'keep' } | { kind: 'suffixed'; name: string; heldBy: string } | { kind: 'taken'; heldBy: string };

/** CreationTime's whole seconds and FC/ENS clock skew (as the adoption lookup allows) */
const SKEW_MS = 2_000;

export async function chooseImageName(
  target: ImportTarget,
  record: ImportRecord,
  deps: { ens: EnsApi; store: ObjectStore; layout: StateLayout; ensTimeoutMs: number; clock: Clock; deadline: number; claimKey: string },
): Promise<NameChoice> {
  const name = target.params.ImageName!;
  let held: { id: string; created: number }[];
  try {
    held = await imagesNamed(deps.ens, name, deps.ensTimeoutMs);
  } catch (err) {
    // a refusal no retry changes (keys, signature, a grant): ImportImage itself says it, as always
    if (err instanceof EnsCallError && !err.transient) return { kind: 'keep' };
    throw err;
  }
  if (!held.length) return { kind: 'keep' };
  const own = await imagesOfKey(deps.store, deps.layout, record);
  // an attempt whose answer was lost may have made one since it was sent: not another key's,
  // unless another version's index entry names it
  const since = record.sentSince ? Date.parse(record.sentSince) - SKEW_MS : Number.POSITIVE_INFINITY;
  const others = held.some((i) => !own.has(i.id) && i.created >= since) ? await imagesOfOtherVersions(deps) : new Set<string>();
  const foreign = held.find((i) => !own.has(i.id) && (!(i.created >= since) || others.has(i.id)));
  if (!foreign) return { kind: 'keep' };
  const source = target.details.params.ImageName?.source;
  if (source === 'metadata' || source === 'manifest') return { kind: 'taken', heldBy: foreign.id };
  return { kind: 'suffixed', name: suffixed(name, record.bucket, record.key), heldBy: foreign.id };
}

/** `<name>-<6 hex of sha256(bucket/key)>`, within ENS's 128 characters. */
export function suffixed(name: string, bucket: string, key: string): string {
  const tag = createHash('sha256').update(`${bucket}/${key}`).digest('hex').slice(0, 6);
  return `${name.slice(0, 128 - tag.length - 1)}-${tag}`;
}

async function imagesNamed(ens: EnsApi, name: string, timeoutMs: number): Promise<{ id: string; created: number }[]> {
  const found: { id: string; created: number }[] = [];
  for (let page = 1, seen = 0, total = Number.POSITIVE_INFINITY; seen < total; page++, seen += 50) {
    const r = await ens.describeSelfImages({ ImageName: name, PageNumber: page, PageSize: 50 }, timeoutMs);
    total = r.totalCount;
    if (!r.images.length) break;
    // the filter is fuzzy: only this very name counts
    for (const i of r.images)
      if (i.ImageName === name) found.push({ id: i.ImageId, created: i.CreationTime ? Date.parse(i.CreationTime) : 0 });
  }
  return found;
}

/** Every image the records of this key's versions name (the history under keys/). */
async function imagesOfKey(store: ObjectStore, layout: StateLayout, record: ImportRecord): Promise<Set<string>> {
  const versions = await importVersionsOf(store, layout, record.bucket, record.key);
  return new Set([...(record.imageId ? [record.imageId] : []), ...versions.flatMap((v) => (v.record.imageId ? [v.record.imageId] : []))]);
}
