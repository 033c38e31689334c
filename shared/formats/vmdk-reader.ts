import { inflateSync } from 'node:zlib';
import { rangeStart, type GuestRange } from './guest-range';
import type { GuestPiece } from './qcow2-writer';
import { rawClusters } from './raw-reader';
import { ConvertRefusal, type RandomAccess } from './refusal';

/**
 * VMDK hosted sparse extents: monolithicSparse (grains as they are) and streamOptimized (what
 * OVA and vSphere exports hold: each grain deflated behind a marker, the grain directory
 * possibly in a footer). A grain never inflates past its size, and allocations may not
 * overlap. The guest is yielded in 64 KiB clusters.
 *
 * Spec: VMware "Virtual Disk Format 1.1" (hosted sparse extent header) (registry: core/disk-format.ts).
 * Little-endian throughout.
 *
 *   sparse extent header (sector 0; a footer copy 1,024 bytes from the end when gd = -1)
 *     Dec  Hex   Name               Use / limit
 *       0  0x00  magic              "KDMV" (0x564d444b), else vmdk-bad-magic
 *       4  0x04  version            1 to 3, else vmdk-bad-version
 *       8  0x08  flags              bit 16: grains compressed
 *      12  0x0c  capacity           sectors: > 0 and <= limits.maxVirtualSizeGiB (vmdk-bad-size)
 *      20  0x14  grain size         sectors: a power of two, 4 KiB to 1 MiB (vmdk-bad-grain-size)
 *      44  0x2c  GTEs per GT        512, else vmdk-bad-table
 *      56  0x38  gd offset          sectors, inside the file (vmdk-bad-table); -1: in the footer
 *                                   (no room for it: vmdk-truncated)
 *      77  0x4d  compress algorithm 1 (deflate) when compressed, else vmdk-bad-compression
 *   grain directory and tables: 4-byte sector numbers; every grain inside the file
 *   (vmdk-grain-outside), sector-aligned (vmdk-grain-misaligned), where its marker says
 *   (vmdk-grain-misplaced), none overlapping (vmdk-grains-overlap).
 */

const SECTOR = 512;
const GD_AT_END = 0xffffffffffffffffn;
const FLAG_COMPRESSED = 1 << 16;
const MAX_GRAIN_BYTES = 1024 * 1024;

interface Header {
  capacity: number;
  grainBytes: number;
  gtEntries: number;
  gdOffset: number;
  compressed: boolean;
}

function parseHeader(h: Buffer, fileSize: number, maxVirtualBytes: number): Header & { gdAtEnd: boolean } {
  if (h.length < SECTOR || h.readUInt32LE(0) !== 0x564d444b)
    throw new ConvertRefusal('vmdk-bad-magic', 'not a VMDK sparse extent ("KDMV")');
  const version = h.readUInt32LE(4);
  if (version < 1 || version > 3) throw new ConvertRefusal('vmdk-bad-version', `VMDK sparse version ${version} is not 1 to 3`);
  const flags = h.readUInt32LE(8);
  const capacity = h.readBigUInt64LE(12) * 512n;
  const grainBytes = Number(h.readBigUInt64LE(20)) * SECTOR;
  const gtEntries = h.readUInt32LE(44);
  const gd = h.readBigUInt64LE(56);
  if (capacity === 0n || capacity > BigInt(maxVirtualBytes))
    throw new ConvertRefusal('vmdk-bad-size', `VMDK capacity ${capacity} bytes is 0 or above the limit (${maxVirtualBytes})`);
  if (grainBytes < 4096 || grainBytes > MAX_GRAIN_BYTES || (grainBytes & (grainBytes - 1)) !== 0)
    throw new ConvertRefusal('vmdk-bad-grain-size', `grain size ${grainBytes} bytes is not a power of two from 4 KiB to 1 MiB`);
  if (gtEntries !== 512) throw new ConvertRefusal('vmdk-bad-table', `${gtEntries} entries per grain table (the format has 512)`);
  const compressed = (flags & FLAG_COMPRESSED) !== 0;
  if (compressed && h.readUInt16LE(77) !== 1)
    throw new ConvertRefusal('vmdk-bad-compression', `compression algorithm ${h.readUInt16LE(77)} is not deflate`);
  const gdAtEnd = gd === GD_AT_END;
  if (!gdAtEnd && gd * 512n >= BigInt(fileSize)) throw new ConvertRefusal('vmdk-bad-table', 'the grain directory is outside the file');
  return { capacity: Number(capacity), grainBytes, gtEntries, gdOffset: gdAtEnd ? 0 : Number(gd) * SECTOR, compressed, gdAtEnd };
}

async function header(src: RandomAccess, maxVirtualBytes: number): Promise<Header> {
  const first = parseHeader(await src.read(0, SECTOR), src.size, maxVirtualBytes);
  if (!first.gdAtEnd) return first;
  // streamOptimized with the directory at the end: the real header is the footer, 1,024 bytes from the end
  if (src.size < 3 * SECTOR) throw new ConvertRefusal('vmdk-truncated', 'no room for the footer the header points to');
  const footer = parseHeader(await src.read(src.size - 2 * SECTOR, SECTOR), src.size, maxVirtualBytes);
  if (footer.gdAtEnd) throw new ConvertRefusal('vmdk-bad-table', 'the footer does not say where the grain directory is');
  return footer;
}

/** One grain's bytes, from its offset in the file (sectors), checked against the file and its grain. */
async function grainAt(src: RandomAccess, h: Header, grain: number, sector: number, seen: GrainSpace): Promise<Buffer> {
  const offset = sector * SECTOR;
  if (!h.compressed) {
    if (offset + h.grainBytes > src.size) throw new ConvertRefusal('vmdk-grain-outside', `grain ${grain} runs past the end of the file`);
    seen.claim(offset, h.grainBytes, grain);
    return src.read(offset, h.grainBytes);
  }
  if (offset + 12 > src.size) throw new ConvertRefusal('vmdk-grain-outside', `grain ${grain}'s marker is past the end of the file`);
  const marker = await src.read(offset, 12);
  const lba = marker.readBigUInt64LE(0);
  const size = marker.readUInt32LE(8);
  if (lba !== BigInt((grain * h.grainBytes) / SECTOR))
    throw new ConvertRefusal('vmdk-grain-misplaced', `grain ${grain}'s marker names sector ${lba}`);
  if (size === 0 || size > 2 * h.grainBytes || offset + 12 + size > src.size)
    throw new ConvertRefusal('vmdk-grain-outside', `grain ${grain}'s ${size} compressed bytes do not fit the file`);
  seen.claim(offset, 12 + size, grain);
  try {
    return inflateSync(await src.read(offset + 12, size), { maxOutputLength: h.grainBytes });
  } catch (err) {
    const tooBig = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new ConvertRefusal(
      tooBig ? 'vmdk-grain-too-large' : 'vmdk-grain-corrupt',
      `grain ${grain}: ${tooBig ? 'inflates past its grain size' : (err as Error).message}`,
    );
  }
}

/**
 * Allocations may not overlap: uncompressed grains sit on grain boundaries (a bitmap of grain
 * slots); compressed ones follow each other through the file (a stream), so each must start
 * after the last one ended.
 */
class GrainSpace {
  private readonly slots: Uint8Array;
  private streamEnd = 0;
  constructor(
    private readonly h: Header,
    fileSize: number,
  ) {
    this.slots = new Uint8Array(h.compressed ? 0 : Math.ceil(fileSize / h.grainBytes / 8));
  }
  claim(offset: number, length: number, grain: number): void {
    if (this.h.compressed) {
      if (offset < this.streamEnd) throw new ConvertRefusal('vmdk-grains-overlap', `grain ${grain} starts inside the one before it`);
      this.streamEnd = offset + length;
      return;
    }
    if (offset % this.h.grainBytes) throw new ConvertRefusal('vmdk-grain-misaligned', `grain ${grain} is not on a grain boundary`);
    const slot = offset / this.h.grainBytes;
    if (this.slots[slot >> 3]! & (1 << (slot & 7)))
      throw new ConvertRefusal('vmdk-grains-overlap', `grain ${grain} shares its place with another`);
    this.slots[slot >> 3]! |= 1 << (slot & 7);
  }
}

async function* grains(src: RandomAccess, h: Header, range?: GuestRange): AsyncGenerator<GuestPiece> {
  const end = Math.min(h.capacity, range?.to ?? h.capacity);
  const first = rangeStart(range, h.grainBytes) / h.grainBytes;
  const grainsTotal = Math.ceil(end / h.grainBytes);
  const tables = Math.ceil(grainsTotal / h.gtEntries);
  if (h.gdOffset + tables * 4 > src.size) throw new ConvertRefusal('vmdk-bad-table', 'the grain directory runs past the end of the file');
  const gd = await src.read(h.gdOffset, tables * 4);
  const seen = new GrainSpace(h, src.size);
  for (let t = Math.floor(first / h.gtEntries); t < tables; t++) {
    const gtSector = gd.readUInt32LE(t * 4);
    const gtOffset = gtSector * SECTOR;
    if (gtSector && gtOffset + h.gtEntries * 4 > src.size)
      throw new ConvertRefusal('vmdk-bad-table', `grain table ${t} runs past the end of the file`);
    const gt = gtSector ? await src.read(gtOffset, h.gtEntries * 4) : undefined;
    for (let e = 0; e < h.gtEntries; e++) {
      const grain = t * h.gtEntries + e;
      if (grain < first) continue;
      if (grain >= grainsTotal) return;
      const bytes = Math.min(h.grainBytes, end - grain * h.grainBytes);
      const sector = gt ? gt.readUInt32LE(e * 4) : 0;
      // 0: never written; 1: written as zeros
      if (sector <= 1) yield { zeros: bytes };
      else {
        const data = await grainAt(src, h, grain, sector, seen);
        yield data.length >= bytes ? data.subarray(0, bytes) : Buffer.concat([data, Buffer.alloc(bytes - data.length)]);
      }
    }
  }
}

/** The guest's size, then its clusters in order. */
export async function vmdkReader(
  src: RandomAccess,
  maxVirtualBytes: number,
  range?: GuestRange,
): Promise<{ virtualSize: number; clusters: AsyncGenerator<GuestPiece> }> {
  const h = await header(src, maxVirtualBytes);
  return { virtualSize: h.capacity, clusters: rawClusters(grains(src, h, range)) };
}
