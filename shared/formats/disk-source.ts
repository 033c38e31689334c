import type { DiskFormat } from '../core/disk-format';
import { CLUSTER } from './qcow2-writer';
import { rawClusters } from './raw-reader';
import { ConvertRefusal, type RandomAccess } from './refusal';
import { vhdReader } from './vhd-reader';
import { vhdxReader } from './vhdx-reader';
import { vmdkReader } from './vmdk-reader';

/** A disk as the qcow2 writer takes it: the guest's size, then its clusters in order. */
export interface DiskSource {
  format: SourceFormat;
  virtualSize: number;
  clusters: AsyncIterable<Buffer>;
}

export type SourceFormat = Exclude<DiskFormat, 'qcow2' | 'ova'>;

const signature = async (src: RandomAccess, at: number, text: string): Promise<boolean> =>
  src.size >= at + text.length && (await src.read(at, text.length)).toString('latin1') === text;

/** The format a name's suffix says, else the one the bytes show (a fixed VHD has its footer only at the end); else raw. */
export async function formatOf(name: string, src: RandomAccess): Promise<SourceFormat> {
  const lower = name.toLowerCase();
  if (lower.endsWith('.vhd')) return 'vhd';
  if (lower.endsWith('.vhdx') || (await signature(src, 0, 'vhdxfile'))) return 'vhdx';
  if (lower.endsWith('.vmdk') || (await signature(src, 0, 'KDMV'))) return 'vmdk';
  if (lower.endsWith('.raw')) return 'raw';
  if (src.size >= 512 && (await signature(src, src.size - 512, 'conectix'))) return 'vhd';
  return 'raw';
}

/** Sequential reads of a whole source, `block` bytes at a time, the next one read while this one is used. */
async function* blocks(src: RandomAccess, block: number): AsyncGenerator<Buffer> {
  const readAt = (at: number) => (at < src.size ? src.read(at, Math.min(block, src.size - at)) : undefined);
  let next = readAt(0);
  for (let at = 0; next; at += block) {
    const current = await next;
    next = readAt(at + block);
    // a read that fails while this block is used surfaces at its own await, not unhandled
    next?.catch(() => undefined);
    yield current;
  }
}

export async function openDiskSource(format: SourceFormat, src: RandomAccess, maxVirtualBytes: number): Promise<DiskSource> {
  switch (format) {
    case 'vhd':
      return { format, ...(await vhdReader(src, maxVirtualBytes)) };
    case 'vmdk':
      return { format, ...(await vmdkReader(src, maxVirtualBytes)) };
    case 'vhdx':
      return { format, ...(await vhdxReader(src, maxVirtualBytes)) };
    case 'raw': {
      // qemu sees a raw disk in whole 512-byte sectors (the last one zero-filled): so does the image
      const virtualSize = Math.ceil(src.size / 512) * 512;
      if (virtualSize === 0 || virtualSize > maxVirtualBytes)
        throw new ConvertRefusal('raw-bad-size', `the raw disk is ${src.size} bytes: 0, or above the limit (${maxVirtualBytes})`);
      return { format, virtualSize, clusters: rawClusters(blocks(src, 64 * CLUSTER)) };
    }
  }
}
