/**
 * The arithmetic of the qcow2 files this project writes (version 3, 64 KiB clusters, 16-bit
 * refcounts), with no I/O: where the header, L1, L2 and refcount structures go and what their
 * bytes are. The one-pass writer and the fan-out assembly both place clusters through it, so
 * the two outputs cannot drift apart in format.
 */

export const CLUSTER = 65_536;
export const L2_ENTRIES = CLUSTER / 8;
/** guest bytes one L2 table maps (512 MiB) */
export const L2_SPAN = CLUSTER * L2_ENTRIES;
const REFCOUNTS_PER_BLOCK = CLUSTER / 2;
/** an L1/L2 entry's flag: refcount exactly one, no copy-on-write needed */
export const COPIED = 1n << 63n;

/** The head region: the header cluster, the L1 table, padded to `minHeadBytes` (a multipart part's minimum). */
export interface HeadGeometry {
  virtualSize: number;
  l1Entries: number;
  l1Clusters: number;
  /** clusters the head region takes at offset 0 */
  reserved: number;
}

export function headGeometry(virtualSize: number, minHeadBytes = 0): HeadGeometry {
  const l1Entries = Math.max(1, Math.ceil(virtualSize / L2_SPAN));
  const l1Clusters = Math.ceil((l1Entries * 8) / CLUSTER);
  return { virtualSize, l1Entries, l1Clusters, reserved: Math.max(1 + l1Clusters, Math.ceil(minHeadBytes / CLUSTER)) };
}

/** The refcount blocks and table appended after `clustersBefore` clusters, covering every cluster, themselves included. */
export function refcountPlacement(clustersBefore: number): { firstBlock: number; blocks: number; tableClusters: number; total: number } {
  let blocks = 0;
  let tableClusters = 0;
  for (;;) {
    const total = clustersBefore + blocks + tableClusters;
    const b = Math.ceil(total / REFCOUNTS_PER_BLOCK);
    const t = Math.ceil((b * 8) / CLUSTER);
    if (b === blocks && t === tableClusters) break;
    blocks = b;
    tableClusters = t;
  }
  return { firstBlock: clustersBefore, blocks, tableClusters, total: clustersBefore + blocks + tableClusters };
}

/**
 * The refcount blocks, then the refcount table, one cluster (or the table) at a time: every
 * cluster counts once but the head's padding, which nothing references.
 */
export function* refcountClusters(g: HeadGeometry, r: ReturnType<typeof refcountPlacement>): Generator<Buffer> {
  const used = (c: number) => c < 1 + g.l1Clusters || c >= g.reserved;
  for (let b = 0; b < r.blocks; b++) {
    const block = Buffer.alloc(CLUSTER);
    for (let i = 0; i < REFCOUNTS_PER_BLOCK; i++) {
      const c = b * REFCOUNTS_PER_BLOCK + i;
      if (c >= r.total) break;
      if (used(c)) block.writeUInt16BE(1, i * 2);
    }
    yield block;
  }
  const table = Buffer.alloc(r.tableClusters * CLUSTER);
  for (let b = 0; b < r.blocks; b++) table.writeBigUInt64BE(BigInt((r.firstBlock + b) * CLUSTER), b * 8);
  yield table;
}

/** An L1 or L2 entry pointing at host cluster `cluster`. */
export const entryFor = (cluster: number): bigint => BigInt(cluster * CLUSTER) | COPIED;

/** The L2 table of 8,192 entries as its cluster's bytes. */
export function l2TableBytes(entries: BigUint64Array): Buffer {
  const table = Buffer.alloc(CLUSTER);
  for (let i = 0; i < L2_ENTRIES; i++) if (entries[i]) table.writeBigUInt64BE(entries[i]!, i * 8);
  return table;
}

/** The head region: header (no extensions) and the L1 table, zero-padded to `reserved` clusters. */
export function headBytes(g: HeadGeometry, l1: ArrayLike<bigint>, refcountTableCluster: number, refcountTableClusters: number): Buffer {
  const h = Buffer.alloc(g.reserved * CLUSTER);
  h.write('QFI\xfb', 0, 'latin1');
  h.writeUInt32BE(3, 4); // version
  h.writeUInt32BE(16, 20); // cluster_bits
  h.writeBigUInt64BE(BigInt(g.virtualSize), 24);
  h.writeUInt32BE(g.l1Entries, 36);
  h.writeBigUInt64BE(BigInt(CLUSTER), 40); // L1 right after the header cluster
  h.writeBigUInt64BE(BigInt(refcountTableCluster * CLUSTER), 48);
  h.writeUInt32BE(refcountTableClusters, 56);
  h.writeUInt32BE(4, 96); // refcount_order: 16-bit refcounts
  h.writeUInt32BE(104, 100); // header_length; the extension area that follows is zero (end mark)
  for (let i = 0; i < g.l1Entries; i++) if (l1[i]) h.writeBigUInt64BE(l1[i]!, CLUSTER + i * 8);
  return h;
}
