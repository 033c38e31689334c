import { detectFormat, formatOfKey, SIGNATURE_BYTES, type DiskFormat } from '../core/disk-format';
import { readSpan } from './chunked-read';
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
    return { virtualSize, clusters: rawClusters(readSpan(src, from, Math.min(src.size, range?.to ?? src.size) - from)) };
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

export async function openDiskSource(
  format: SourceFormat,
  src: RandomAccess,
  maxVirtualBytes: number,
  range?: GuestRange,
): Promise<DiskSource> {
  return { format, ...(await READERS[format](src, maxVirtualBytes, range)) };
}
