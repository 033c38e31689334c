import type { ObjectStore } from '../adapters/object-store';
import type { StateLayout } from '../state/layout';

/**
 * Which keys have more than one version, from one listing of the whole key history (`keys/`)
 * instead of one listing per image that becomes available. Every version lists itself under its
 * key before any work on it (run-version.ts), so a key with at most one entry has no earlier
 * version to supersede, and the per-key listing (supersede.ts) is skipped for it.
 *
 * Why one scan a run is enough: an available version B's upload came before its import, its
 * pending entry and so this run. An earlier version X missing from the scan listed itself
 * after the scan began, so after B's upload: either its event found the object holding B and
 * stopped (ETag), or its import runs on and ends after the scan; if X ends in a later step or
 * run, its own change finds B available (supersedeByCurrent); if X ends earlier in this run,
 * `noteAvailable` has marked its key, and B lists it as before.
 *
 * The scan is read only when cheaper than the listings it saves: from its first page the size of
 * the history is estimated (names are uniform hashes), and it goes on only if the pages left are
 * fewer than the available changes in hand. Memory: the keys with several entries, no more.
 */
const PAGE = 1000;

/** What the scan needs of a tracker run (its store, layout, retry policy and deadline). */
export interface ScanContext {
  store: ObjectStore;
  layout: StateLayout;
  retry: <T>(fn: (msLeft: number) => Promise<T>) => Promise<T>;
  now: () => number;
  deadline: number;
}

export class KeyHistoryScan {
  /** key folders with two or more entries, among those read */
  private readonly several = new Set<string>();
  /** every folder below this one has been read whole */
  private readBelow = '';
  private started?: Promise<void>;
  /** per key folder, the versions recorded available in this run */
  private readonly availableThisRun = new Map<string, number>();

  constructor(private readonly run: ScanContext) {}

  /** Before a page's changes: `available` of them may each need the per-key listing. */
  prepare(available: number): Promise<void> {
    // one listing of a key is never dearer than a scan
    if (available < 2) return this.started ?? Promise.resolve();
    this.started ??= this.scan(available).catch(() => undefined);
    return this.started;
  }

  /** A version of this key is about to be recorded available (before its record is written). */
  noteAvailable(bucket: string, key: string): void {
    const folder = this.run.layout.keyVersionsPrefix(bucket, key);
    this.availableThisRun.set(folder, (this.availableThisRun.get(folder) ?? 0) + 1);
  }

  /** Whether the key's history may hold a version besides the one noted available: if not, its listing is saved. */
  mayHaveEarlier(bucket: string, key: string): boolean {
    const folder = this.run.layout.keyVersionsPrefix(bucket, key);
    if ((this.availableThisRun.get(folder) ?? 0) > 1) return true;
    return !(folder < this.readBelow) || this.several.has(folder);
  }

  private async scan(available: number): Promise<void> {
    const { store, layout, retry, now, deadline } = this.run;
    const prefix = `${layout.prefix}keys/`;
    let token: string | undefined;
    let folder = '';
    let count = 0;
    let pages = 0;
    do {
      const page = await retry(() => store.listPage(prefix, token, PAGE));
      pages += 1;
      for (const o of page.objects) {
        const f = o.key.slice(0, o.key.lastIndexOf('/') + 1);
        if (f !== folder) [folder, count] = [f, 0];
        if (++count === 2) this.several.add(f);
      }
      token = page.nextToken;
      // the last folder read may go on in the next page
      this.readBelow = token ? folder : '\uffff';
      if (token && pages === 1 && estimatedPages(prefix, folder) - 1 > available) return;
    } while (token && pages < available && now() < deadline);
  }
}

/** Pages of the whole history, from how far into the hash space its first page reached. */
function estimatedPages(prefix: string, lastFolder: string): number {
  const reached = Number.parseInt(lastFolder.slice(prefix.length, prefix.length + 8), 16) / 2 ** 32;
  return reached > 0 ? 1 / reached : Number.POSITIVE_INFINITY;
}
