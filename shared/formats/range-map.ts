import { CLUSTER } from './qcow2-layout';
import { emitStored, isZeroRun, type GuestPiece } from './qcow2-writer';

/**
 * What a fan-out worker made of its guest range: the range, how many of its clusters hold data,
 * and a bitmap (bit i: the range's cluster i is stored, as the next cluster of the worker's data
 * object). The assembly places the data and builds the tables from the maps alone.
 */
export interface RangeMap {
  from: number;
  to: number;
  stored: number;
  bitmap: Buffer;
}

export const rangeClusters = (r: { from: number; to: number }): number => Math.ceil((r.to - r.from) / CLUSTER);

/** The stored clusters' indices within the range, in order. */
export function* storedIndices(bitmap: Buffer, clusters: number): Generator<number> {
  for (let byte = 0; byte * 8 < clusters; byte++) {
    const bits = bitmap[byte]!;
    if (!bits) continue;
    for (let b = 0; b < 8; b++) if (bits & (1 << b) && byte * 8 + b < clusters) yield byte * 8 + b;
  }
}

/**
 * One guest range's pieces to its data clusters (emitted, zero clusters left out, a short last
 * one padded) and its map: the worker's half of what Qcow2Writer does in one pass.
 */
export class RangeCollector {
  private next = 0;
  private stored = 0;
  private readonly bitmap: Buffer;
  readonly clusters: number;

  constructor(
    readonly range: { from: number; to: number },
    private readonly emit: (cluster: Buffer) => void | Promise<void>,
  ) {
    if (range.from % CLUSTER !== 0 || range.to <= range.from)
      throw new Error(`guest range [${range.from}, ${range.to}) is not cluster-aligned`);
    this.clusters = rangeClusters(range);
    this.bitmap = Buffer.alloc(Math.ceil(this.clusters / 8));
  }

  async piece(p: GuestPiece): Promise<void> {
    if (isZeroRun(p)) {
      this.advance(Math.ceil(p.zeros / CLUSTER));
      return;
    }
    await emitStored(
      p,
      (stored) => {
        const i = this.advance(1);
        if (!stored) return;
        this.bitmap[i >> 3]! |= 1 << (i & 7);
        this.stored += 1;
      },
      this.emit,
    );
  }

  private advance(n: number): number {
    if (this.next + n > this.clusters) throw new Error('more data than the guest range');
    const at = this.next;
    this.next += n;
    return at;
  }

  finish(): RangeMap {
    if (this.next !== this.clusters) throw new Error(`short range: ${this.next} of ${this.clusters} clusters`);
    return { ...this.range, stored: this.stored, bitmap: this.bitmap };
  }
}

/** A map as the JSON its record carries (the bitmap in base64). */
export const encodeRangeMap = (m: RangeMap) => ({ from: m.from, to: m.to, stored: m.stored, bitmap: m.bitmap.toString('base64') });

/** A map read back, checked whole: a record that does not add up is refused, never assembled. */
export function decodeRangeMap(v: unknown): RangeMap {
  const o = (v ?? {}) as Record<string, unknown>;
  const { from, to, stored, bitmap } = o;
  if (![from, to, stored].every((n) => Number.isSafeInteger(n) && (n as number) >= 0) || typeof bitmap !== 'string')
    throw new Error('range map: from, to, stored and bitmap are required');
  const m = { from: from as number, to: to as number, stored: stored as number, bitmap: Buffer.from(bitmap, 'base64') };
  const clusters = m.to > m.from && m.from % CLUSTER === 0 ? rangeClusters(m) : -1;
  if (clusters < 0 || m.bitmap.length !== Math.ceil(clusters / 8)) throw new Error('range map: the bitmap does not fit the range');
  let count = 0;
  for (const _ of storedIndices(m.bitmap, clusters)) count += 1;
  if (count !== m.stored || (clusters % 8 && m.bitmap.at(-1)! >> (clusters % 8)))
    throw new Error('range map: the bitmap does not count the stored clusters');
  return m;
}
