import { detectFormat, formatOfKey, SIGNATURE_BYTES, type DiskFormat } from '../core/disk-format';
import { rangeStart, type GuestRange } from './guest-range';
import { CLUSTER, type GuestPiece } from './qcow2-writer';
import { rawClusters } from './raw-reader';
import { ConvertRefusal, type RandomAccess } from './refusal';
import { vhdReader } from './vhd-reader';
import { vhdxReader } from './vhdx-reader';
import { vmdkReader } from './vmdk-reader';

/**
 * The readers of the formats registered in `core/disk-format.ts` (facts, signatures, spec
 * links), one per format the converter takes. Detection reads the registry, so the function,
 * `ens-importer convert` and `inspect` agree on what a file is.
 */

/** A disk as the qcow2 writer takes it: the guest's size, then its clusters in order. */
export interface DiskSource {
  format: SourceFormat;
  virtualSize: number;
  clusters: AsyncIterable<GuestPiece>;
}

/** What a reader turns into qcow2 (an OVA holds such disks; qcow2 is never rewrapped). */
export type SourceFormat = Exclude<DiskFormat, 'qcow2' | 'ova'>;

type Reader = (
  src: RandomAccess,
  maxVirtualBytes: number,
  range?: GuestRange,
) => Promise<{ virtualSize: number; clusters: AsyncIterable<GuestPiece> }>;

const READERS: Record<SourceFormat, Reader> = {
  vhd: vhdReader,
  vmdk: vmdkReader,
  vhdx: vhdxReader,
  raw: async (src, maxVirtualBytes, range) => {
    // qemu sees a raw disk in whole 512-byte sectors (the last one zero-filled): so does the image
    const virtualSize = Math.ceil(src.size / 512) * 512;
    if (virtualSize === 0 || virtualSize > maxVirtualBytes)
      throw new ConvertRefusal('raw-bad-size', `the raw disk is ${src.size} bytes: 0, or above the limit (${maxVirtualBytes})`);
    const from = rangeStart(range, CLUSTER);
    return { virtualSize, clusters: rawClusters(blocks(src, RAW_BLOCK, from, Math.min(src.size, range?.to ?? src.size))) };
  },
};

const FOOTER = 512;

/**
 * What a file or object is: its first bytes decide whenever they carry a signature (a qcow2
 * named `.img` or `.raw` is qcow2, never wrapped as a raw disk); else the name's suffix; else a
 * VHD footer in the last 512 bytes (a fixed VHD has no other mark); else raw.
 */
export async function detectSource(name: string, src: RandomAccess, head?: Buffer): Promise<DiskFormat> {
  const first = head && head.length >= Math.min(src.size, SIGNATURE_BYTES) ? head : await src.read(0, Math.min(src.size, SIGNATURE_BYTES));
  const shown = detectFormat(first);
  if (shown !== 'raw') return shown;
  const named = formatOfKey(name);
  if (named && named !== 'sniff' && named !== 'qcow2') return named;
  const footer = src.size >= FOOTER ? await src.read(src.size - FOOTER, FOOTER) : undefined;
  return detectFormat(Buffer.alloc(0), footer);
}

/**
 * A format a reader turns into qcow2. qcow2 itself is refused, never wrapped as a raw disk
 * (`convert-already-qcow2`: it is imported as it is); so is an OVA inside an OVA.
 */
export function convertibleFormat(format: DiskFormat, name: string): SourceFormat {
  if (format === 'qcow2')
    throw new ConvertRefusal(
      'convert-already-qcow2',
      `${name} is qcow2 already: upload it as <name>.qcow2 (ens-importer inspect checks it)`,
    );
  if (format === 'ova') throw new ConvertRefusal('ova-tar-invalid', `${name} is itself an OVA package: a disk was expected`);
  return format;
}

/** Raw disks are read 4 MiB at a time, 4 reads in flight (a local file's reads then use both cores). */
const RAW_BLOCK = 64 * CLUSTER;
const RAW_AHEAD = 4;

/**
 * Sequential reads of `[from, to)`, `block` bytes at a time, the next ones read while this
 * one is used. A source that reads into a given buffer (a local file) reuses `ahead + 1`
 * buffers, so a disk of any size allocates 20 MiB: the consumer is done with a block when it
 * asks for the next, and the sinks copy what they keep.
 */
async function* blocks(src: RandomAccess, block: number, from: number, to: number): AsyncGenerator<Buffer> {
  // a source of its own read-ahead (ranged GETs through blocks) is asked one block ahead: more would evict its cache
  const ahead = src.readInto ? RAW_AHEAD : 1;
  const ring = src.readInto ? Array.from({ length: ahead + 1 }, () => Buffer.allocUnsafe(block)) : undefined;
  let turn = 0;
  const readAt = (at: number): Promise<Buffer> => {
    const length = Math.min(block, to - at);
    if (!ring || !src.readInto) return src.read(at, length);
    const target = ring[turn++ % ring.length]!.subarray(0, length);
    return src.readInto(target, at).then((n) => target.subarray(0, n));
  };
  const queue: Promise<Buffer>[] = [];
  let nextAt = from;
  const fill = () => {
    while (queue.length < ahead && nextAt < to) {
      const read = readAt(nextAt);
      // a read that fails while another block is used surfaces at its own await, not unhandled
      read.catch(() => undefined);
      queue.push(read);
      nextAt += block;
    }
  };
  fill();
  while (queue.length) {
    const current = await queue.shift()!;
    if (current.length === 0) return;
    fill();
    yield current;
  }
}

export async function openDiskSource(
  format: SourceFormat,
  src: RandomAccess,
  maxVirtualBytes: number,
  range?: GuestRange,
): Promise<DiskSource> {
  return { format, ...(await READERS[format](src, maxVirtualBytes, range)) };
}
