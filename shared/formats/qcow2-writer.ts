/**
 * A qcow2 (version 3, 64 KiB clusters, 16-bit refcounts) written in one pass from the guest's
 * clusters in order, without holding the image: zero clusters are not stored, each 512 MiB of
 * guest space gets its L2 table right after its data, and the refcounts go at the end. Only the
 * first region (header and L1 table, padded to `minHeadBytes`) is known last: it is returned by
 * `finish()` for the caller to write at offset 0 (a file's start, or a multipart upload's part 1).
 */

import {
  CLUSTER,
  entryFor,
  headBytes,
  headGeometry,
  L2_ENTRIES,
  l2TableBytes,
  refcountClusters,
  refcountPlacement,
  type HeadGeometry,
} from './qcow2-layout';

export { CLUSTER } from './qcow2-layout';
const ZERO = Buffer.alloc(CLUSTER);

/**
 * Guest bytes a reader knows are zeros without reading them (an unallocated block, a grain
 * never written): passed on as a count, so a 2 TiB empty disk costs its L2 boundaries, not
 * 32 million compares. `zeros` is a whole number of clusters except at a range's or the disk's end.
 */
export interface ZeroRun {
  zeros: number;
}

/**
 * What readers yield: the bytes of one or more whole 64 KiB clusters (only the guest's or a
 * range's last may be short), or a run of zeros. Handing on a 4 MiB read as one piece instead
 * of 64 clusters keeps the per-piece costs (a generator step, an await, a sink call) off the
 * bytes' path.
 */
export type GuestPiece = Buffer | ZeroRun;

export const isZeroRun = (p: GuestPiece): p is ZeroRun => !Buffer.isBuffer(p);
/** The guest bytes a piece stands for. */
export const pieceBytes = (p: GuestPiece): number => (Buffer.isBuffer(p) ? p.length : p.zeros);
/** One shared buffer of zeros, never written: holes are subarrays of it, not fresh allocations. */
export const ZERO_CLUSTER: Buffer = ZERO;

/**
 * The clusters of `bytes` (whole 64 KiB clusters; the last may be short and is zero-filled):
 * `each` is told every one in order, whether it is stored (not all zeros), and the stored ones
 * go to `emit` a stretch at a time: a 4 MiB read of data is one call, not 64.
 */
export async function emitStored(
  bytes: Buffer,
  each: (stored: boolean) => void,
  emit: (stretch: Buffer) => void | Promise<void>,
): Promise<void> {
  // the first byte of the stretch of stored clusters not yet emitted, or -1
  let stretch = -1;
  for (let at = 0; at < bytes.length; at += CLUSTER) {
    const cluster = bytes.subarray(at, at + CLUSTER);
    const full = cluster.length === CLUSTER ? cluster : Buffer.concat([cluster, ZERO.subarray(0, CLUSTER - cluster.length)]);
    const stored = !full.equals(ZERO);
    each(stored);
    if (stored && full === cluster) {
      if (stretch < 0) stretch = at;
      continue;
    }
    if (stretch >= 0) await emit(bytes.subarray(stretch, at));
    stretch = -1;
    if (stored) await emit(full);
  }
  if (stretch >= 0) await emit(bytes.subarray(stretch));
}

export interface Qcow2Layout {
  /** bytes of the region written last at offset 0 */
  headBytes: number;
  /** total bytes of the image */
  totalBytes: number;
  dataClusters: number;
}

export class Qcow2Writer {
  private readonly l1: bigint[];
  private readonly geometry: HeadGeometry;
  private l2: BigUint64Array | undefined;
  private nextGuest = 0;
  private nextHost: number;
  private dataClusters = 0;

  /** `emit` receives the image's bytes from offset `headBytes` on, in order. */
  constructor(
    readonly virtualSize: number,
    private readonly emit: (chunk: Buffer) => void | Promise<void>,
    minHeadBytes = 0,
  ) {
    this.geometry = headGeometry(virtualSize, minHeadBytes);
    this.l1 = new Array<bigint>(this.geometry.l1Entries).fill(0n);
    this.nextHost = this.geometry.reserved;
  }

  get headBytes(): number {
    return this.geometry.reserved * CLUSTER;
  }

  get guestClusters(): number {
    return Math.ceil(this.virtualSize / CLUSTER);
  }

  /** The next piece of the guest: clusters' bytes, or a run of zero clusters. */
  async piece(p: GuestPiece): Promise<void> {
    return isZeroRun(p) ? this.skip(p.zeros) : this.data(p);
  }

  /** `bytes` of zeros from the next guest cluster on: nothing stored, L2 tables closed at their boundaries. */
  async skip(bytes: number): Promise<void> {
    let clusters = Math.ceil(bytes / CLUSTER);
    if (this.nextGuest + clusters > this.guestClusters) throw new Error('more data than the virtual size');
    while (clusters > 0) {
      const tableEnd = (Math.floor(this.nextGuest / L2_ENTRIES) + 1) * L2_ENTRIES;
      const step = Math.min(clusters, tableEnd - this.nextGuest);
      this.nextGuest += step;
      clusters -= step;
      if (this.nextGuest === tableEnd || this.nextGuest === this.guestClusters)
        await this.closeL2(Math.floor((this.nextGuest - 1) / L2_ENTRIES));
    }
  }

  /** The next guest cluster (64 KiB; the last may be short). */
  async cluster(data: Buffer): Promise<void> {
    return this.data(data.subarray(0, CLUSTER));
  }

  /** The next guest clusters' bytes, any number of them (only the guest's last may be short). */
  async data(bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      const tableEnd = (Math.floor(this.nextGuest / L2_ENTRIES) + 1) * L2_ENTRIES;
      const room = (Math.min(tableEnd, this.guestClusters) - this.nextGuest) * CLUSTER;
      if (room <= 0) throw new Error('more data than the virtual size');
      const n = Math.min(bytes.length - at, room);
      await emitStored(
        bytes.subarray(at, at + n),
        (stored) => {
          const v = this.nextGuest++;
          if (!stored) return;
          this.l2 ??= new BigUint64Array(L2_ENTRIES);
          this.l2[v % L2_ENTRIES] = entryFor(this.nextHost);
          this.nextHost += 1;
          this.dataClusters += 1;
        },
        this.emit,
      );
      at += n;
      // a table follows the clusters it maps
      if (this.nextGuest === tableEnd || this.nextGuest === this.guestClusters)
        await this.closeL2(Math.floor((this.nextGuest - 1) / L2_ENTRIES));
    }
  }

  private async closeL2(index: number): Promise<void> {
    if (!this.l2) return;
    const table = l2TableBytes(this.l2);
    this.l1[index] = entryFor(this.nextHost);
    this.nextHost += 1;
    this.l2 = undefined;
    await this.emit(table);
  }

  /** Refcounts appended; returns the head region (header + L1) and the layout. */
  async finish(): Promise<{ head: Buffer; layout: Qcow2Layout }> {
    if (this.nextGuest !== this.guestClusters) throw new Error(`short input: ${this.nextGuest} of ${this.guestClusters} clusters`);
    const refcounts = refcountPlacement(this.nextHost);
    for (const cluster of refcountClusters(this.geometry, refcounts)) await this.emit(cluster);
    return {
      head: headBytes(this.geometry, this.l1, refcounts.firstBlock + refcounts.blocks, refcounts.tableClusters),
      layout: { headBytes: this.headBytes, totalBytes: refcounts.total * CLUSTER, dataClusters: this.dataClusters },
    };
  }
}
