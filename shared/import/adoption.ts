import { EnsCallError, type EnsApi } from '../adapters/ens';
import { listAll, type ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import { retryTransient } from '../core/retry';
import type { ImporterConfig } from '../runtime/config';
import type { StateLayout } from '../state/layout';
import type { ImportRecord } from '../state/records';

/**
 * ENS has no idempotency token: before importing again after an attempt that may have
 * reached ENS, find the image that attempt made. By certainty: the ImageId written into the
 * claim, then the pending index, then ENS by ImageName.
 */

export interface AdoptionDeps {
  config: ImporterConfig;
  store: ObjectStore;
  ens: EnsApi;
  layout: StateLayout;
  clock: Clock;
  deadline: number;
  claimKey: string;
}

export interface Evidence {
  /** when ImportImage may first have been sent */
  sentMs: number;
  uncertain?: ImportRecord['uncertain'];
  imageId?: string;
}

/**
 * Images made this long before the send still count (clock skew between FC and ENS, and
 * CreationTime's whole seconds). Kept small: a larger window adopts more often an image of
 * the same name that another upload made.
 */
const CLOCK_SKEW_MS = 2_000;

const isTransientEns = (err: unknown): boolean => err instanceof EnsCallError && err.transient;

export async function findEarlierImage(d: AdoptionDeps, imageName: string, e: Evidence): Promise<string | undefined> {
  if (e.imageId) return e.imageId;
  const page = await d.store.listPage(d.layout.pendingPrefixOf(d.claimKey), undefined, 10);
  const indexed = page.objects.map((o) => d.layout.parsePendingKey(o.key)).find((p) => p !== undefined);
  if (indexed) return indexed.imageId;
  if (e.uncertain && !e.uncertain.answered) {
    // a request that got no answer may still be running inside ENS: give it time to show
    const settleUntil = Date.parse(e.uncertain.at) + 2 * d.config.ensTimeoutMs;
    if (d.clock.now() < settleUntil) {
      if (settleUntil >= d.deadline) {
        const why =
          'an earlier ImportImage got no answer and there is no time left to see whether ENS made the image; the next attempt will';
        throw new EnsCallError(e.uncertain.code, why, true, undefined, false);
      }
      await d.clock.sleep(settleUntil - d.clock.now());
    }
  }
  return lookupByName(d, imageName, e.sentMs);
}

/**
 * DescribeSelfImages by name, every page: of the images of that name made since `sentMs`
 * (less the skew), the one made closest to it, unless the pending index gives it to
 * another version.
 */
async function lookupByName(d: AdoptionDeps, imageName: string, sentMs: number): Promise<string | undefined> {
  const { clock } = d;
  const policy = { deadline: d.deadline, now: clock.now, sleep: clock.sleep, random: clock.random, baseMs: 100, maxMs: 2_000 };
  const matches: { id: string; created: number }[] = [];
  for (let page = 1, seen = 0, total = Number.POSITIVE_INFINITY; seen < total; page++, seen += 50) {
    const query = { ImageName: imageName, PageNumber: page, PageSize: 50 };
    const r = await retryTransient(
      (_a, msLeft) => d.ens.describeSelfImages(query, Math.min(msLeft, d.config.ensTimeoutMs)),
      isTransientEns,
      policy,
    );
    total = r.value.totalCount;
    if (!r.value.images.length) break;
    for (const i of r.value.images) {
      const created = i.CreationTime ? Date.parse(i.CreationTime) : Number.NaN;
      if (i.ImageName === imageName && !(created < sentMs - CLOCK_SKEW_MS))
        matches.push({ id: i.ImageId, created: Number.isNaN(created) ? 0 : created });
    }
  }
  if (!matches.length) return undefined;
  const others = await imagesOfOtherVersions(d);
  const distance = (m: { created: number }) => Math.abs(m.created - sentMs);
  return matches.filter((m) => !others.has(m.id)).sort((a, b) => distance(a) - distance(b))[0]?.id;
}

/**
 * An image the pending index (still importing) or the images index (available, or timed out)
 * gives to another version is that version's, not ours: never adopted, and never taken for a
 * lost answer of ours when a name is chosen.
 */
export async function imagesOfOtherVersions(
  d: Pick<AdoptionDeps, 'store' | 'layout' | 'deadline' | 'clock' | 'claimKey'>,
): Promise<Set<string>> {
  const others = new Set<string>();
  const { layout } = d;
  for (const [prefix, parse] of [
    [layout.pendingPrefix, layout.parsePendingKey],
    [layout.imagesPrefix, layout.parseImageKey],
  ] as const) {
    for await (const o of listAll(d.store, prefix, d.deadline, d.clock.now)) {
      const p = parse(o.key);
      if (p && p.claimKey !== d.claimKey) others.add(p.imageId);
    }
  }
  return others;
}
