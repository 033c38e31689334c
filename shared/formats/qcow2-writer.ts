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

/** What readers yield: a cluster's bytes (64 KiB, the last may be short), or a run of zeros. */
export type GuestPiece = Buffer | ZeroRun;

export const isZeroRun = (p: GuestPiece): p is ZeroRun => !Buffer.isBuffer(p);
/** The guest bytes a piece stands for. */
export const pieceBytes = (p: GuestPiece): number => (Buffer.isBuffer(p) ? p.length : p.zeros);
/** One shared buffer of zeros, never written: holes are subarrays of it, not fresh allocations. */
export const ZERO_CLUSTER: Buffer = ZERO;

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

  /** The next piece of the guest: a cluster, or a run of zero clusters. */
  async piece(p: GuestPiece): Promise<void> {
    return isZeroRun(p) ? this.skip(p.zeros) : this.cluster(p);
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
    if (this.nextGuest >= this.guestClusters) throw new Error('more data than the virtual size');
    const v = this.nextGuest++;
    const full = data.length === CLUSTER ? data : Buffer.concat([data, ZERO.subarray(0, CLUSTER - data.length)]);
    if (!full.equals(ZERO)) {
      this.l2 ??= new BigUint64Array(L2_ENTRIES);
      this.l2[v % L2_ENTRIES] = entryFor(this.nextHost);
      this.nextHost += 1;
      this.dataClusters += 1;
      await this.emit(full);
    }
    if (v % L2_ENTRIES === L2_ENTRIES - 1 || v === this.guestClusters - 1) await this.closeL2(Math.floor(v / L2_ENTRIES));
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
