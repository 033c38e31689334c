import { describe, expect, it } from 'vitest';
import { cannotFinish } from '../../shared/core/conversion';
import { blockCachedSource } from '../../shared/formats/ranged-source';
import { openDiskSource } from '../../shared/formats/registry';
import { isZeroRun, pieceBytes } from '../../shared/formats/qcow2-writer';

/** The pace of a conversion: what is refused before it starts, and what the source cache fetches. */

describe('a source that cannot be read in the time left is refused before it starts', () => {
  it('fits when size / rate is within the time left, with the figures in the reason when not', () => {
    expect(cannotFinish(60e6 * 100, 60, 100_000)).toBeUndefined();
    expect(cannotFinish(60e6 * 100, 60, 99_000)).toBe(
      '6000000000 bytes at 60 MB/s (IMPORTER_CONVERT_RATE_MBPS) need about 100 s; the function has 99 s left',
    );
    expect(cannotFinish(1, 60, -5_000)).toMatch(/has 0 s left$/);
    expect(cannotFinish(0, 60, 0)).toBeUndefined();
  });
});

describe('the ranged-GET block cache', () => {
  const block = 4 << 20;
  const counted = (size: number, ahead: number) => {
    const fetched = new Map<number, number>();
    const src = blockCachedSource(
      size,
      async (offset, length) => {
        fetched.set(offset, (fetched.get(offset) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 1));
        const b = Buffer.alloc(length);
        b.writeUInt32BE(offset / block + 1, 0);
        return b;
      },
      block,
      ahead,
    );
    return { src, fetched };
  };

  it('fetches each block of a raw disk once while several are read ahead (a prefetched block is never evicted before its turn)', async () => {
    for (const ahead of [1, 2, 3, 4, 6]) {
      const size = 64 * block;
      const { src, fetched } = counted(size, ahead);
      const disk = await openDiskSource('raw', src, 2 ** 40);
      let data = 0;
      let guest = 0;
      for await (const piece of disk.clusters) {
        guest += pieceBytes(piece);
        if (!isZeroRun(piece) && piece.readUInt32BE(0) !== 0) data += 1;
      }
      expect(guest).toBe(size);
      expect(data).toBe(64);
      expect(src.requests).toBe(64);
      expect(
        [...fetched.values()].every((n) => n === 1),
        `${ahead} ahead`,
      ).toBe(true);
    }
  });

  it('asks again for a block whose fetch failed', async () => {
    let calls = 0;
    const src = blockCachedSource(
      block,
      async (_o, length) => {
        calls += 1;
        if (calls === 1) throw new Error('reset');
        return Buffer.alloc(length, 1);
      },
      block,
      2,
    );
    await expect(src.read(0, 10)).rejects.toThrow('reset');
    expect((await src.read(0, 10)).equals(Buffer.alloc(10, 1))).toBe(true);
    expect(calls).toBe(2);
  });
});
