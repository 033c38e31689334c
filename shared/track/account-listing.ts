import type { SelfImage } from '../adapters/ens';
import type { TrackRun } from './types';

/**
 * The account's images as DescribeSelfImages lists them, read page by page only as far as
 * a run needs, and kept (ImageId → status) for the rest of the run. The API filters by one
 * ImageId or one ImageName (both fuzzy) and documents no order, so the tracker lists, asks
 * by id when that is cheaper, and stops early only when the listing shows itself newest first.
 */
export class AccountListing {
  readonly statuses = new Map<string, string>();
  private nextPage = 1;
  private total = Number.POSITIVE_INFINITY;
  /** every page has been read: an id not seen is not in the account (yet) */
  listedAll = false;
  /** the listing so far goes back in time (one step down seen, none up) */
  private wentBack = false;
  private wentForward = false;
  private get newestFirst(): boolean {
    return this.wentBack && !this.wentForward;
  }
  private lastCreation = Number.POSITIVE_INFINITY;
  /** the oldest CreationTime read (meaningful when newestFirst) */
  private oldestRead = Number.POSITIVE_INFINITY;

  constructor(private readonly run: TrackRun) {}

  private pagesLeft(): number {
    const size = this.run.deps.settings.pageSize;
    return Number.isFinite(this.total) ? Math.max(0, Math.ceil((this.total - (this.nextPage - 1) * size) / size)) : 1;
  }

  /**
   * Read pages until every wanted id is seen, or a page held none of them and asking by id
   * is cheaper, or (newest first) the listing has passed the oldest wanted import
   * (`notBefore`, less a skew).
   */
  async seek(wanted: readonly string[], notBefore: number): Promise<void> {
    const { deps, clock, summary, retry } = this.run;
    const size = deps.settings.pageSize;
    const skewMs = 10 * 60_000;
    const want = new Set(wanted);
    let productive = true;
    for (;;) {
      if (this.listedAll || clock.now() >= deps.runDeadline) return;
      const unseen = wanted.filter((id) => !this.statuses.has(id)).length;
      if (!unseen) return;
      // a page that held none of them, and fewer of them left than pages: by id is cheaper
      if (this.nextPage > 1 && !productive && unseen < this.pagesLeft()) return;
      if (this.nextPage > 1 && this.newestFirst && this.oldestRead < notBefore - skewMs) return;
      summary.describeCalls += 1;
      const page = this.nextPage;
      const r = await retry((msLeft) => deps.ens.describeSelfImages({ PageNumber: page, PageSize: size }, Math.min(msLeft, 10_000)));
      this.total = r.totalCount;
      this.nextPage += 1;
      productive = false;
      for (const image of r.images) {
        this.note(image);
        if (want.has(image.ImageId)) productive = true;
      }
      if ((this.nextPage - 1) * size >= this.total || !r.images.length) this.listedAll = true;
    }
  }

  private note(image: SelfImage): void {
    this.statuses.set(image.ImageId, image.Status);
    const at = Date.parse(image.CreationTime ?? '');
    if (!Number.isFinite(at)) {
      this.wentForward = true;
      return;
    }
    if (at > this.lastCreation && Number.isFinite(this.lastCreation)) this.wentForward = true;
    if (at < this.lastCreation) this.wentBack = true;
    this.lastCreation = at;
    this.oldestRead = Math.min(this.oldestRead, at);
  }
}
