import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { extentReads, readSpan } from '../../shared/formats/chunked-read';
import { Qcow2Writer, type GuestPiece } from '../../shared/formats/qcow2-writer';
import { RangeCollector } from '../../shared/formats/range-map';
import type { RandomAccess } from '../../shared/formats/refusal';

/**
 * Readers hand on whole reads (many clusters) as one piece; the writer and the fan-out's range
 * collector must make of them exactly what they make of the same guest a cluster at a time, and
 * the extent reader must read ahead across extents without handing a buffer out twice.
 */

const CLUSTER = 65_536;
const MiB = 2 ** 20;

/** A guest of `clusters` clusters, some all zeros, some data, the last one short. */
function guest(clusters: number, seed: number): Buffer {
  const g = Buffer.alloc(clusters * CLUSTER - 1000);
  for (let c = 0; c < clusters; c++) {
    // a pattern that mixes lone zero clusters, stretches of data and stretches of zeros
    if ((c * 7 + seed) % 5 < 2) continue;
    randomBytes(Math.min(CLUSTER, g.length - c * CLUSTER)).copy(g, c * CLUSTER);
  }
  return g;
}

/** The guest cut into pieces of whole clusters, sizes drawn from `sizes` in turn; zero runs where given. */
function piecesOf(g: Buffer, sizes: number[], zeroRunAt?: [number, number]): GuestPiece[] {
  const out: GuestPiece[] = [];
  let turn = 0;
  for (let at = 0; at < g.length; ) {
    if (zeroRunAt && at === zeroRunAt[0]) {
      out.push({ zeros: zeroRunAt[1] });
      at += zeroRunAt[1];
      continue;
    }
    let n = sizes[turn++ % sizes.length]! * CLUSTER;
    if (zeroRunAt && at < zeroRunAt[0]) n = Math.min(n, zeroRunAt[0] - at);
    out.push(g.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function image(size: number, pieces: GuestPiece[]): Promise<{ head: Buffer; body: Buffer; calls: number }> {
  const emitted: Buffer[] = [];
  const w = new Qcow2Writer(size, (b) => void emitted.push(Buffer.from(b)));
  for (const p of pieces) await w.piece(p);
  const { head } = await w.finish();
  return { head, body: Buffer.concat(emitted), calls: emitted.length };
}

describe('the qcow2 writer takes pieces of many clusters', () => {
  const g = guest(300, 3);
  for (const sizes of [[2], [64], [3, 1, 17], [1000]]) {
    it(`pieces of ${sizes.join('/')} clusters make the image one cluster at a time makes`, async () => {
      const one = await image(g.length, piecesOf(g, [1]));
      const many = await image(g.length, piecesOf(g, sizes));
      expect(many.head.equals(one.head)).toBe(true);
      expect(many.body.equals(one.body)).toBe(true);
      if (sizes[0]! > 1) expect(many.calls).toBeLessThan(one.calls);
    });
  }

  it('a piece across an L2 table’s boundary puts the table after the clusters it maps', async () => {
    // 512 MiB of guest per L2 table: a zero run up to 3 clusters short of it, then data across it
    const size = 600 * MiB;
    const edge = 512 * MiB - 3 * CLUSTER;
    const data = randomBytes(8 * CLUSTER);
    const tail = { zeros: size - edge - data.length };
    const one = await image(size, [{ zeros: edge }, ...piecesOf(data, [1]), tail]);
    const many = await image(size, [{ zeros: edge }, data, tail]);
    expect(many.body.equals(one.body)).toBe(true);
    expect(many.head.equals(one.head)).toBe(true);
    // the first L2 table sits after the first three clusters, before the other five
    const l2 = many.body.subarray(3 * CLUSTER, 4 * CLUSTER);
    expect(l2.readBigUInt64BE((8192 - 3) * 8) & 0xffffffffffffffn).toBeGreaterThan(0n);
    expect(many.body.subarray(4 * CLUSTER, 9 * CLUSTER).equals(data.subarray(3 * CLUSTER))).toBe(true);
  });

  it('refuses a piece past the virtual size', async () => {
    const w = new Qcow2Writer(2 * CLUSTER, () => undefined);
    await expect(w.piece(Buffer.alloc(3 * CLUSTER, 1))).rejects.toThrow(/more data/);
  });
});

describe('the range collector takes pieces of many clusters', () => {
  it('pieces of 64 clusters give the map and data a cluster at a time gives', async () => {
    const g = guest(200, 1);
    const collect = async (pieces: GuestPiece[]) => {
      const out: Buffer[] = [];
      const c = new RangeCollector({ from: 0, to: g.length }, (b) => void out.push(Buffer.from(b)));
      for (const p of pieces) await c.piece(p);
      return { map: c.finish(), data: Buffer.concat(out) };
    };
    const one = await collect(piecesOf(g, [1]));
    const many = await collect(piecesOf(g, [64], [64 * CLUSTER, 10 * CLUSTER]));
    const oneWithRun = await collect(piecesOf(g, [1], [64 * CLUSTER, 10 * CLUSTER]));
    expect(many.map.bitmap.equals(oneWithRun.map.bitmap)).toBe(true);
    expect(many.data.equals(oneWithRun.data)).toBe(true);
    expect(one.map.stored).toBeGreaterThan(0);
  });
});

/** A file in memory; `readInto` optional; every read's start recorded in `log`. */
function memorySource(bytes: Buffer, local: boolean, log: string[]): RandomAccess {
  return {
    size: bytes.length,
    read: async (o, l) => {
      log.push(`read ${o}+${l}`);
      return bytes.subarray(o, o + l);
    },
    readInto: local
      ? async (target, o) => {
          log.push(`readInto ${o}+${target.length}`);
          await new Promise((r) => setImmediate(r));
          return bytes.copy(target, 0, o, o + target.length);
        }
      : undefined,
  };
}

describe('extent reads', () => {
  const file = randomBytes(20 * MiB);
  const plan = [
    { offset: 512, length: 2 * MiB },
    { offset: 3 * MiB, length: 512 },
    { offset: 5 * MiB - 100, length: 9 * MiB },
  ];

  for (const local of [true, false]) {
    it(`${local ? 'a local file' : 'a ranged source'}: every extent's bytes, in order, whatever the chunks`, async () => {
      const log: string[] = [];
      const reads = extentReads(memorySource(file, local, log), plan);
      for (const e of plan) {
        const got: Buffer[] = [];
        for await (const chunk of reads.chunks(e)) {
          expect(chunk.length).toBeLessThanOrEqual(4 * MiB);
          got.push(Buffer.from(chunk));
        }
        expect(Buffer.concat(got).equals(file.subarray(e.offset, e.offset + e.length))).toBe(true);
      }
      if (local) {
        // chunks start at the extent's first byte: 4 MiB, 4 MiB, then the rest
        expect(log.filter((l) => l.startsWith(`readInto ${5 * MiB - 100}`))).toEqual([`readInto ${5 * MiB - 100}+${4 * MiB}`]);
      } else {
        // cut where the source's 4 MiB blocks are: no read spans two of them
        for (const l of log) {
          const [o, n] = l.split(' ')[1]!.split('+').map(Number);
          expect(Math.floor(o! / (4 * MiB))).toBe(Math.floor((o! + n! - 1) / (4 * MiB)));
        }
      }
    });
  }

  it('a local file: the next extents are read while this one is used, up to four reads', async () => {
    const log: string[] = [];
    const reads = extentReads(memorySource(file, true, log), plan);
    const first = reads.chunks(plan[0]!);
    await first.next();
    // the first chunk is out: four reads in flight behind it, into the next two extents
    expect(log).toEqual([
      `readInto 512+${2 * MiB}`,
      `readInto ${3 * MiB}+512`,
      `readInto ${5 * MiB - 100}+${4 * MiB}`,
      `readInto ${9 * MiB - 100}+${4 * MiB}`,
      `readInto ${13 * MiB - 100}+${MiB}`,
    ]);
  });

  it('a local file: a chunk handed out is not overwritten before the next is asked for', async () => {
    const small = Array.from({ length: 12 }, (_, i) => ({ offset: i * MiB, length: 4096 }));
    const reads = extentReads(memorySource(file, true, []), small);
    for (const e of small) {
      for await (const chunk of reads.chunks(e)) {
        await new Promise((r) => setTimeout(r, 2));
        expect(chunk.equals(file.subarray(e.offset, e.offset + e.length))).toBe(true);
      }
    }
  });

  it('an extent asked for out of its planned order is an error, not other bytes', async () => {
    const reads = extentReads(memorySource(file, true, []), plan);
    await expect(reads.whole(plan[1]!)).rejects.toThrow(/not planned here/);
  });

  it('an empty span reads nothing', async () => {
    const log: string[] = [];
    const got = [];
    for await (const c of readSpan(memorySource(file, true, log), 100, 0)) got.push(c);
    expect(got).toEqual([]);
    expect(log).toEqual([]);
  });
});
