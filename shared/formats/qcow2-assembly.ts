import { CLUSTER, entryFor, headBytes, headGeometry, L2_ENTRIES, l2TableBytes, refcountClusters, refcountPlacement } from './qcow2-layout';
import { rangeClusters, storedIndices, type RangeMap } from './range-map';

/**
 * A qcow2 put together from the workers' range maps, with no I/O: the head (header and L1)
 * as part 1, each range's data object as server-side copies of it (parts of at most
 * `maxCopyBytes`), then a tail the assembler writes: the data of ranges too small for a part
 * of their own, every L2 table, the refcounts. Host layout, in order: head, copied data,
 * inlined data, L2 tables, refcount blocks, refcount table.
 */

export interface Assembly {
  head: Buffer;
  /** the copy parts, in part order after the head: bytes [offset, offset + length) of range `range`'s data object */
  copies: { range: number; offset: number; length: number }[];
  /** ranges whose data the tail carries (read whole by the assembler: smaller than a part) */
  inline: number[];
  /** the tail's clusters, given the inlined ranges' data objects */
  tail(inlineData: ReadonlyMap<number, Buffer>): Generator<Buffer>;
  totalBytes: number;
}

export interface AssemblyLimits {
  /** the head region's minimum (a part's) */
  minHeadBytes: number;
  /** a copied range must be at least a part's minimum */
  minCopyBytes: number;
  /** and each copy part at most this (OSS: 5 GB) */
  maxCopyBytes: number;
}

/** The ranges must tile the guest from 0 to its size, in order. */
function checkTiling(virtualSize: number, ranges: readonly RangeMap[]): void {
  let at = 0;
  for (const r of ranges) {
    if (r.from !== at) throw new Error(`range maps leave a gap or overlap at guest byte ${at}`);
    at = r.to;
  }
  if (at !== virtualSize) throw new Error(`range maps cover ${at} of ${virtualSize} guest bytes`);
}

/** Every stored guest cluster with its host cluster, in guest order. */
function* placed(ranges: readonly RangeMap[], base: readonly number[]): Generator<[guest: number, host: number]> {
  for (let r = 0; r < ranges.length; r++) {
    const m = ranges[r]!;
    const first = m.from / CLUSTER;
    let k = 0;
    for (const i of storedIndices(m.bitmap, rangeClusters(m))) yield [first + i, base[r]! + k++];
  }
}

/** A range's data object as copy parts of at most `max` bytes, as even as clusters allow (so none is below a part's minimum). */
function splitCopies(range: number, bytes: number, max: number): Assembly['copies'] {
  const clusters = bytes / CLUSTER;
  const n = Math.ceil(bytes / max);
  const out: Assembly['copies'] = [];
  for (let i = 0, offset = 0; i < n; i++) {
    const length = (Math.floor((clusters * (i + 1)) / n) - Math.floor((clusters * i) / n)) * CLUSTER;
    out.push({ range, offset, length });
    offset += length;
  }
  return out;
}

export function assembleQcow2(virtualSize: number, ranges: readonly RangeMap[], limits: AssemblyLimits): Assembly {
  checkTiling(virtualSize, ranges);
  const g = headGeometry(virtualSize, limits.minHeadBytes);
  const base = new Array<number>(ranges.length).fill(0);
  const copies: Assembly['copies'] = [];
  const inline: number[] = [];
  let next = g.reserved;
  ranges.forEach((m, r) => {
    if (m.stored * CLUSTER < limits.minCopyBytes) return;
    base[r] = next;
    next += m.stored;
    copies.push(...splitCopies(r, m.stored * CLUSTER, limits.maxCopyBytes));
  });
  ranges.forEach((m, r) => {
    if (m.stored === 0 || m.stored * CLUSTER >= limits.minCopyBytes) return;
    base[r] = next;
    next += m.stored;
    inline.push(r);
  });
  // the L2 tables that map anything, in guest order, right after the data
  const l1 = new BigUint64Array(g.l1Entries);
  for (const [guest] of placed(ranges, base)) {
    const t = Math.floor(guest / L2_ENTRIES);
    if (!l1[t]) l1[t] = entryFor(next++);
  }
  const refcounts = refcountPlacement(next);
  const head = headBytes(g, l1, refcounts.firstBlock + refcounts.blocks, refcounts.tableClusters);
  function* tail(inlineData: ReadonlyMap<number, Buffer>): Generator<Buffer> {
    for (const r of inline) {
      const data = inlineData.get(r);
      if (data?.length !== ranges[r]!.stored * CLUSTER)
        throw new Error(`range ${r}: its data object is not its ${ranges[r]!.stored} clusters`);
      yield data;
    }
    let table: BigUint64Array | undefined;
    let tableIndex = -1;
    for (const [guest, host] of placed(ranges, base)) {
      const t = Math.floor(guest / L2_ENTRIES);
      if (t !== tableIndex && table) yield l2TableBytes(table);
      if (t !== tableIndex) [table, tableIndex] = [new BigUint64Array(L2_ENTRIES), t];
      table![guest % L2_ENTRIES] = entryFor(host);
    }
    if (table) yield l2TableBytes(table);
    yield* refcountClusters(g, refcounts);
  }
  return { head, copies, inline, tail, totalBytes: refcounts.total * CLUSTER };
}
