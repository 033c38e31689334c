import { extentReads, readSpan } from './chunked-read';
import { rangeStart, type GuestRange } from './guest-range';
import { CLUSTER, isZeroRun, type GuestPiece } from './qcow2-writer';
import { rawClusters } from './raw-reader';
import { ConvertRefusal, type RandomAccess } from './refusal';

/**
 * VHD (Microsoft Virtual Hard Disk, "vpc" to qemu): a fixed disk is its data followed by a
 * 512-byte footer; a dynamic one has a header, a block allocation table and blocks of
 * `blockSize` bytes, each after a sector bitmap. An unallocated block or an unset sector reads
 * as zeros. The guest is yielded cluster by cluster.
 *
 * Spec: Microsoft "Virtual Hard Disk Image Format Specification" v1.0 (registry: core/disk-format.ts).
 * Big-endian throughout.
 *
 *   footer (last 512 bytes; a dynamic disk also has a copy at 0)
 *     Dec  Hex   Name             Use / limit
 *       0  0x00  cookie           "conectix", else vhd-footer-missing
 *      16  0x10  data offset      where the dynamic header is (dynamic only)
 *      48  0x30  current size     the guest size: > 0 and <= limits.maxVirtualSizeGiB (vhd-bad-size)
 *      60  0x3c  disk type        2 fixed, 3 dynamic; 4 differencing is refused (vhd-differencing)
 *      64  0x40  checksum         one's complement of the byte sum, else vhd-footer-checksum
 *   dynamic header (1,024 bytes at the data offset, inside the file: vhd-bad-header-offset)
 *       0  0x00  cookie           "cxsparse", else vhd-bad-header
 *      16  0x10  table offset     the BAT: inside the file, else vhd-bad-table
 *      28  0x1c  max entries      must cover the guest (vhd-bad-table)
 *      32  0x20  block size       a power of two, 64 KiB to 256 MiB (vhd-bad-block-size)
 *      36  0x24  checksum         else vhd-header-checksum
 *   BAT: one big-endian sector number per block, 0xffffffff unallocated; every block (bitmap
 *   and data) inside the file (vhd-block-outside), no two overlapping (vhd-blocks-overlap).
 */

const FOOTER = 512;
const UNALLOCATED = 0xffffffff;
const MAX_BLOCK = 256 * 1024 * 1024;

export interface VhdInfo {
  type: 'fixed' | 'dynamic';
  virtualSize: number;
}

function checksum(bytes: Buffer, skipAt: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) if (i < skipAt || i >= skipAt + 4) sum = (sum + bytes[i]!) >>> 0;
  return ~sum >>> 0;
}

export function parseVhdFooter(footer: Buffer, fileSize: number, maxVirtualBytes: number): VhdInfo & { dataOffset: bigint } {
  if (footer.length < FOOTER || footer.toString('latin1', 0, 8) !== 'conectix')
    throw new ConvertRefusal('vhd-footer-missing', 'no VHD footer ("conectix") in the last 512 bytes');
  if (checksum(footer.subarray(0, FOOTER), 64) !== footer.readUInt32BE(64))
    throw new ConvertRefusal('vhd-footer-checksum', 'the VHD footer checksum does not match');
  const diskType = footer.readUInt32BE(60);
  if (diskType === 4) throw new ConvertRefusal('vhd-differencing', 'a differencing VHD needs its parent: merge it first');
  if (diskType !== 2 && diskType !== 3)
    throw new ConvertRefusal('vhd-bad-type', `VHD disk type ${diskType} is not fixed (2) or dynamic (3)`);
  const size = footer.readBigUInt64BE(48);
  if (size === 0n || size > BigInt(maxVirtualBytes))
    throw new ConvertRefusal('vhd-bad-size', `VHD virtual size ${size} is 0 or above the limit (${maxVirtualBytes})`);
  const virtualSize = Number(size);
  if (diskType === 2 && virtualSize + FOOTER > fileSize)
    throw new ConvertRefusal(
      'vhd-truncated',
      `a fixed VHD of ${virtualSize} bytes needs ${virtualSize + FOOTER}, the file has ${fileSize}`,
    );
  return { type: diskType === 2 ? 'fixed' : 'dynamic', virtualSize, dataOffset: footer.readBigUInt64BE(16) };
}

interface Dynamic {
  bat: Buffer;
  blockSize: number;
  bitmapBytes: number;
}

async function readDynamic(src: RandomAccess, dataOffset: bigint, virtualSize: number): Promise<Dynamic> {
  const limit = src.size - FOOTER;
  if (dataOffset < 512n || dataOffset + 1024n > BigInt(limit))
    throw new ConvertRefusal('vhd-bad-header-offset', `the dynamic header offset ${dataOffset} is outside the file`);
  const h = await src.read(Number(dataOffset), 1024);
  if (h.toString('latin1', 0, 8) !== 'cxsparse') throw new ConvertRefusal('vhd-bad-header', 'no dynamic disk header ("cxsparse")');
  if (checksum(h, 36) !== h.readUInt32BE(36)) throw new ConvertRefusal('vhd-header-checksum', 'the dynamic header checksum does not match');
  const tableOffset = h.readBigUInt64BE(16);
  const entries = h.readUInt32BE(28);
  const blockSize = h.readUInt32BE(32);
  if (blockSize < 512 || blockSize > MAX_BLOCK || (blockSize & (blockSize - 1)) !== 0 || blockSize % CLUSTER !== 0)
    throw new ConvertRefusal('vhd-bad-block-size', `block size ${blockSize} is not a power of two from 64 KiB to 256 MiB`);
  if (BigInt(entries) * BigInt(blockSize) < BigInt(virtualSize))
    throw new ConvertRefusal('vhd-bad-table', `${entries} blocks of ${blockSize} bytes do not cover ${virtualSize} bytes`);
  const needed = Math.ceil(virtualSize / blockSize);
  if (tableOffset + BigInt(needed * 4) > BigInt(limit))
    throw new ConvertRefusal('vhd-bad-table', `the block allocation table at ${tableOffset} runs past the end of the file`);
  const bat = await src.read(Number(tableOffset), needed * 4);
  const bitmapBytes = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  // every allocated block inside the file, and no two overlapping
  const starts: number[] = [];
  for (let i = 0; i < needed; i++) {
    const sector = bat.readUInt32BE(i * 4);
    if (sector === UNALLOCATED) continue;
    const start = sector * 512;
    if (start + bitmapBytes + blockSize > limit)
      throw new ConvertRefusal('vhd-block-outside', `block ${i} at byte ${start} runs past the end of the file`);
    starts.push(start);
  }
  starts.sort((a, b) => a - b);
  for (let i = 1; i < starts.length; i++)
    if (starts[i]! < starts[i - 1]! + bitmapBytes + blockSize)
      throw new ConvertRefusal('vhd-blocks-overlap', `two blocks overlap at byte ${starts[i]}`);
  return { bat, blockSize, bitmapBytes };
}

/** The guest's clusters in order (within `range`, whose start is on a block boundary). */
export async function* vhdClusters(src: RandomAccess, maxVirtualBytes: number, range?: GuestRange): AsyncGenerator<GuestPiece, VhdInfo> {
  if (src.size < FOOTER) throw new ConvertRefusal('vhd-footer-missing', 'the file is shorter than a VHD footer');
  const info = parseVhdFooter(await src.read(src.size - FOOTER, FOOTER), src.size, maxVirtualBytes);
  const end = Math.min(info.virtualSize, range?.to ?? info.virtualSize);
  if (info.type === 'fixed') {
    const from = rangeStart(range, CLUSTER);
    yield* rawClusters(readSpan(src, from, end - from));
    return info;
  }
  const d = await readDynamic(src, info.dataOffset, info.virtualSize);
  const first = rangeStart(range, d.blockSize) / d.blockSize;
  const blocks = function* () {
    for (let block = first; block * d.blockSize < end; block++) {
      const sector = d.bat.readUInt32BE(block * 4);
      if (sector === UNALLOCATED) continue;
      yield {
        block,
        bitmap: { offset: sector * 512, length: d.bitmapBytes },
        data: { offset: sector * 512 + d.bitmapBytes, length: Math.min(d.blockSize, end - block * d.blockSize) },
      };
    }
  };
  // every allocated block's bitmap and data, planned so the reads run ahead across blocks
  const reads = extentReads(
    src,
    (function* () {
      for (const b of blocks()) yield* [b.bitmap, b.data];
    })(),
  );
  let next = first;
  for (const b of blocks()) {
    if (b.block > next) yield { zeros: Math.min(end, b.block * d.blockSize) - next * d.blockSize };
    next = b.block + 1;
    const bitmap = await reads.whole(b.bitmap);
    yield* blockClusters(bitmap, rawClusters(reads.chunks(b.data)));
  }
  if (next * d.blockSize < end) yield { zeros: end - next * d.blockSize };
  return info;
}

/**
 * One allocated block's clusters: a sector whose bit is clear is not in the file and reads as
 * zeros. qemu-img and Hyper-V set whole bitmaps: data all of whose sectors are present passes on
 * as read, a whole read at a time, no copy.
 */
async function* blockClusters(bitmap: Buffer, pieces: AsyncIterable<GuestPiece>): AsyncGenerator<GuestPiece> {
  let at = 0;
  const bitsOf = (from: number, length: number) => bitmap.subarray(from / 4096, Math.ceil((from + length) / 4096));
  for await (const piece of pieces) {
    const length = isZeroRun(piece) ? piece.zeros : piece.length;
    if (isZeroRun(piece) || (length % 4096 === 0 && bitsOf(at, length).every((b) => b === 0xff))) {
      yield piece;
      at += length;
      continue;
    }
    for (let c = 0; c < length; c += CLUSTER, at += CLUSTER) {
      const cluster = piece.subarray(c, c + CLUSTER);
      const bits = bitsOf(at, cluster.length);
      if (bits.every((b) => b === 0xff) && cluster.length % 4096 === 0) yield cluster;
      else if (bits.every((b) => b === 0)) yield { zeros: cluster.length };
      else {
        const data = Buffer.from(cluster);
        for (let s = 0; s < data.length / 512; s++) {
          const n = at / 512 + s;
          if (!(bitmap[n >> 3]! & (0x80 >> (n & 7)))) data.fill(0, s * 512, (s + 1) * 512);
        }
        yield data;
      }
    }
  }
}

/** The guest's size (from the footer), then its clusters in order. */
export async function vhdReader(
  src: RandomAccess,
  maxVirtualBytes: number,
  range?: GuestRange,
): Promise<{ virtualSize: number; clusters: AsyncGenerator<GuestPiece, VhdInfo> }> {
  if (src.size < FOOTER) throw new ConvertRefusal('vhd-footer-missing', 'the file is shorter than a VHD footer');
  const info = parseVhdFooter(await src.read(src.size - FOOTER, FOOTER), src.size, maxVirtualBytes);
  return { virtualSize: info.virtualSize, clusters: vhdClusters(src, maxVirtualBytes, range) };
}
