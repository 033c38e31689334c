import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type GuestPiece, pieceBytes } from '../../shared/formats/qcow2-writer';
import { ConvertRefusal, type RandomAccess } from '../../shared/formats/refusal';
import { vhdReader } from '../../shared/formats/vhd-reader';
import { vhdxReader } from '../../shared/formats/vhdx-reader';
import { vmdkReader } from '../../shared/formats/vmdk-reader';

/**
 * The readers under mutated inputs: whatever the bytes, a reader converts or refuses with its
 * own code; never another exception, never more output than the virtual size it accepted.
 */

const dir = mkdtempSync(join(tmpdir(), 'convert-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;

function made(format: string, options: string[]): Buffer {
  const raw = join(dir, `${format}-${options.join('-')}.raw`);
  closeSync(openSync(raw, 'w'));
  truncateSync(raw, 8 * MiB);
  const fd = openSync(raw, 'r+');
  writeSync(fd, Buffer.alloc(MiB, 0x5a), 0, MiB, 2 * MiB);
  closeSync(fd);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, raw, `${raw}.${format}`]);
  return readFileSync(`${raw}.${format}`);
}

const readers: [
  string,
  Buffer,
  (src: RandomAccess, limit: number) => Promise<{ virtualSize: number; clusters: AsyncGenerator<GuestPiece> }>,
][] = [
  ['vhd dynamic', made('vpc', ['-o', 'subformat=dynamic']), vhdReader],
  ['vmdk streamOptimized', made('vmdk', ['-o', 'subformat=streamOptimized']), vmdkReader],
  ['vmdk monolithicSparse', made('vmdk', ['-o', 'subformat=monolithicSparse']), vmdkReader],
  ['vhdx', made('vhdx', []), vhdxReader],
];

/** Offsets where a format keeps its tables: the start, the 64 KiB-aligned header and region areas, the end. */
const hotOffset = (size: number) =>
  fc.oneof(
    fc.integer({ min: 0, max: Math.min(size - 1, 4096) }),
    fc.integer({ min: 0, max: size - 1 }),
    fc.integer({ min: Math.max(0, size - 2048), max: size - 1 }),
    fc
      .constantFrom(...[64, 128, 192, 256].map((k) => k * 1024).filter((o) => o < size))
      .chain((o) => fc.integer({ min: o, max: Math.min(size - 1, o + 256) })),
  );

describe('reader fuzz (fast-check): mutated inputs are converted or refused, nothing else', () => {
  for (const [name, clean, reader] of readers) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(hotOffset(clean.length), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
          async (edits) => {
            const b = Buffer.from(clean);
            for (const [at, byte] of edits) b[at] = byte;
            const src: RandomAccess = { size: b.length, read: async (o, l) => b.subarray(o, o + l) };
            try {
              const { virtualSize, clusters } = await reader(src, 64 * MiB);
              let bytes = 0;
              for await (const c of clusters) bytes += pieceBytes(c);
              expect(bytes).toBe(virtualSize);
            } catch (err) {
              if (!(err instanceof ConvertRefusal)) throw err;
              expect(err.code).toMatch(/^(vhd|vhdx|vmdk)-[a-z-]+$/);
            }
          },
        ),
        { numRuns: 150, seed: 20261128 },
      );
    });
  }
});
