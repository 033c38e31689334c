import { ConvertRefusal, type RandomAccess } from './refusal';
import type { GuestPiece } from './qcow2-writer';
import { extentReads, type Extent } from './chunked-read';
import { rawClusters } from './raw-reader';
import { rangeStart, type GuestRange } from './guest-range';

/**
 * VHDX (Hyper-V): two headers and two region tables (CRC-32C each; the valid header with the
 * higher sequence number wins), a metadata region (block size, virtual size, sector size) and
 * a block allocation table whose payload entries point at whole blocks (1 MiB units). A log
 * that still needs replaying is refused rather than replayed.
 *
 * Spec: [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format" (registry: core/disk-format.ts).
 * Little-endian throughout.
 *
 *     Offset      Size     Name                 Use / limit
 *     0           8        file signature       "vhdxfile", else vhdx-bad-signature
 *     64 KiB      4 KiB    header 1             "head", CRC-32C at 4; the higher sequence (8) wins
 *     128 KiB     4 KiB    header 2             neither valid: vhdx-bad-header; log GUID (48..63)
 *                                               not zero: vhdx-log-not-replayed
 *     192 KiB     64 KiB   region table 1       "regi", CRC-32C at 4, count at 8; entries of 32
 *     256 KiB     64 KiB   region table 2       bytes (GUID, offset 16, length 24); neither valid:
 *                                               vhdx-bad-region-table; a region below 1 MiB or
 *                                               past the end: vhdx-region-outside
 *   metadata region: "metadata", count at 10, entries of 32 bytes (GUID, offset 16, length 20),
 *   each item inside its region (vhdx-bad-metadata): file parameters (block size: a power of
 *   two, 1 to 256 MiB, vhdx-bad-block-size; has-parent: vhdx-differencing), virtual disk size
 *   (> 0 and <= the limit: vhdx-bad-size), logical sector size.
 *   BAT: 8-byte entries, payload blocks interleaved with sector-bitmap entries every chunk;
 *   state in bits 0..2, file offset in MiB in bits 20..63; every block inside the file
 *   (vhdx-block-outside), none overlapping (vhdx-blocks-overlap), the table inside its region
 *   (vhdx-bad-table).
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_BLOCK = 256 * MiB;

function guid(text: string): Buffer {
  const h = text.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
}
const BAT = guid('2DC27766-F623-4200-9D64-115E9BFD4A08');
const METADATA = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const FILE_PARAMETERS = guid('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
const VIRTUAL_DISK_SIZE = guid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
const LOGICAL_SECTOR_SIZE = guid('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');

const CRC32C = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `bytes` with its 4-byte checksum field (at `at`) read as zero. */
function crc32c(bytes: Buffer, at: number): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C[(c ^ (i >= at && i < at + 4 ? 0 : bytes[i]!)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function validHeader(src: RandomAccess): Promise<Buffer> {
  const candidates: Buffer[] = [];
  for (const at of [64 * KiB, 128 * KiB]) {
    const h = await src.read(at, 4 * KiB);
    if (h.length === 4 * KiB && h.toString('latin1', 0, 4) === 'head' && crc32c(h, 4) === h.readUInt32LE(4)) candidates.push(h);
  }
  if (!candidates.length) throw new ConvertRefusal('vhdx-bad-header', 'neither VHDX header has a valid signature and checksum');
  const h = candidates.sort((a, b) => Number(b.readBigUInt64LE(8) - a.readBigUInt64LE(8)))[0]!;
  if (h.subarray(48, 64).some((x) => x !== 0))
    throw new ConvertRefusal(
      'vhdx-log-not-replayed',
      'the VHDX log holds writes not yet applied: open it in Hyper-V (or qemu-img check -r all) first',
    );
  return h;
}

async function regions(src: RandomAccess): Promise<Map<string, { offset: number; length: number }>> {
  for (const at of [192 * KiB, 256 * KiB]) {
    const t = await src.read(at, 64 * KiB);
    if (t.length < 64 * KiB || t.toString('latin1', 0, 4) !== 'regi' || crc32c(t, 4) !== t.readUInt32LE(4)) continue;
    const count = t.readUInt32LE(8);
    if (count > 2047) break;
    const out = new Map<string, { offset: number; length: number }>();
    for (let i = 0; i < count; i++) {
      const e = 16 + i * 32;
      const offset = Number(t.readBigUInt64LE(e + 16));
      const length = t.readUInt32LE(e + 24);
      if (offset < MiB || offset + length > src.size) throw new ConvertRefusal('vhdx-region-outside', `region ${i} lies outside the file`);
      out.set(t.subarray(e, e + 16).toString('hex'), { offset, length });
    }
    return out;
  }
  throw new ConvertRefusal('vhdx-bad-region-table', 'neither VHDX region table has a valid signature and checksum');
}

interface Parameters {
  blockSize: number;
  virtualSize: number;
  sectorSize: number;
}

async function parameters(src: RandomAccess, region: { offset: number; length: number }, maxVirtualBytes: number): Promise<Parameters> {
  const m = await src.read(region.offset, Math.min(region.length, 64 * KiB));
  if (m.toString('latin1', 0, 8) !== 'metadata') throw new ConvertRefusal('vhdx-bad-metadata', 'no metadata table');
  const items = new Map<string, Buffer>();
  const count = m.readUInt16LE(10);
  for (let i = 0; i < count && 32 + i * 32 + 32 <= m.length; i++) {
    const e = 32 + i * 32;
    const offset = m.readUInt32LE(e + 16);
    const length = m.readUInt32LE(e + 20);
    if (offset + length > region.length || length > 4 * KiB)
      throw new ConvertRefusal('vhdx-bad-metadata', `metadata item ${i} lies outside its region`);
    items.set(m.subarray(e, e + 16).toString('hex'), await src.read(region.offset + offset, length));
  }
  const fp = items.get(FILE_PARAMETERS.toString('hex'));
  const vs = items.get(VIRTUAL_DISK_SIZE.toString('hex'));
  const ls = items.get(LOGICAL_SECTOR_SIZE.toString('hex'));
  if (!fp || fp.length < 8 || !vs || vs.length < 8 || !ls || ls.length < 4)
    throw new ConvertRefusal('vhdx-bad-metadata', 'a required metadata item is missing');
  if (fp.readUInt32LE(4) & 2) throw new ConvertRefusal('vhdx-differencing', 'a differencing VHDX needs its parent: merge it first');
  const blockSize = fp.readUInt32LE(0);
  const sectorSize = ls.readUInt32LE(0);
  const size = vs.readBigUInt64LE(0);
  if (blockSize < MiB || blockSize > MAX_BLOCK || (blockSize & (blockSize - 1)) !== 0)
    throw new ConvertRefusal('vhdx-bad-block-size', `block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`);
  if (sectorSize !== 512 && sectorSize !== 4096) throw new ConvertRefusal('vhdx-bad-metadata', `logical sector size ${sectorSize}`);
  if (size === 0n || size > BigInt(maxVirtualBytes))
    throw new ConvertRefusal('vhdx-bad-size', `virtual size ${size} is 0 or above the limit (${maxVirtualBytes})`);
  return { blockSize, virtualSize: Number(size), sectorSize };
}

async function* blocks(
  src: RandomAccess,
  bat: { offset: number; length: number },
  p: Parameters,
  range?: GuestRange,
): AsyncGenerator<GuestPiece> {
  const chunkRatio = (2 ** 23 * p.sectorSize) / p.blockSize;
  const payloads = Math.ceil(p.virtualSize / p.blockSize);
  // a sector-bitmap entry follows every chunkRatio payload entries
  const entries = payloads + Math.floor((payloads - 1) / chunkRatio);
  if (entries * 8 > bat.length)
    throw new ConvertRefusal('vhdx-bad-table', `the allocation table holds ${bat.length / 8} entries, ${entries} are needed`);
  const table = await src.read(bat.offset, entries * 8);
  const end = Math.min(p.virtualSize, range?.to ?? p.virtualSize);
  const first = rangeStart(range, p.blockSize) / p.blockSize;
  const count = Math.ceil(end / p.blockSize) - first;
  const present = (b: number): Extent | undefined => {
    const entry = table.readBigUInt64LE((b + Math.floor(b / chunkRatio)) * 8);
    const state = Number(entry & 7n);
    if (state === 7) throw new ConvertRefusal('vhdx-differencing', `block ${b} is partially present (a differencing disk)`);
    return state === 6 ? { offset: Number(entry >> 20n) * MiB, length: Math.min(p.blockSize, end - b * p.blockSize) } : undefined;
  };
  // every present block checked before any is read, so the reads can be planned ahead across them
  const starts = new Float64Array(count);
  let n = 0;
  for (let b = first; b < first + count; b++) {
    const block = present(b);
    if (!block) continue;
    if (block.offset < MiB || block.offset + p.blockSize > src.size)
      throw new ConvertRefusal('vhdx-block-outside', `block ${b} at byte ${block.offset} lies outside the file`);
    starts[n++] = block.offset;
  }
  const sorted = starts.subarray(0, n).sort();
  for (let i = 1; i < n; i++)
    if (sorted[i]! < sorted[i - 1]! + p.blockSize)
      throw new ConvertRefusal('vhdx-blocks-overlap', `two blocks overlap at byte ${sorted[i]}`);
  const plan = function* () {
    for (let b = first; b < first + count; b++) {
      const block = present(b);
      if (block) yield block;
    }
  };
  const reads = extentReads(src, plan());
  for (let b = first; b < first + count; b++) {
    const block = present(b);
    if (block) yield* rawClusters(reads.chunks(block));
    else yield { zeros: Math.min(p.blockSize, end - b * p.blockSize) };
  }
}

export async function vhdxReader(
  src: RandomAccess,
  maxVirtualBytes: number,
  range?: GuestRange,
): Promise<{ virtualSize: number; clusters: AsyncGenerator<GuestPiece> }> {
  if (src.size < 1 * MiB || (await src.read(0, 8)).toString('latin1') !== 'vhdxfile')
    throw new ConvertRefusal('vhdx-bad-signature', 'not a VHDX file ("vhdxfile")');
  await validHeader(src);
  const r = await regions(src);
  const bat = r.get(BAT.toString('hex'));
  const meta = r.get(METADATA.toString('hex'));
  if (!bat || !meta) throw new ConvertRefusal('vhdx-bad-region-table', 'the BAT or metadata region is missing');
  const p = await parameters(src, meta, maxVirtualBytes);
  return { virtualSize: p.virtualSize, clusters: blocks(src, bat, p, range) };
}
