import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Qcow2Writer, type Qcow2Layout } from '../shared/convert/qcow2-writer';
import { rawClusters } from '../shared/convert/raw-reader';
import type { RandomAccess } from '../shared/convert/refusal';
import { vhdReader } from '../shared/convert/vhd-reader';
import { vmdkReader } from '../shared/convert/vmdk-reader';
import { vhdxReader } from '../shared/convert/vhdx-reader';

/** The importer's default limit on a disk's virtual size (importer.yaml limits.maxVirtualSizeGiB). */
const MAX_VIRTUAL = 2048 * 2 ** 30;

export type SourceFormat = 'raw' | 'vhd' | 'vhdx' | 'vmdk';

/** VMDK and VHD by their suffix or signature (a fixed VHD has its footer only at the end); anything else is raw. */
async function formatOf(input: string, file: RandomAccess): Promise<SourceFormat> {
  if (/\.vhd$/i.test(input)) return 'vhd';
  if (/\.vhdx$/i.test(input) || (file.size >= 8 && (await file.read(0, 8)).toString('latin1') === 'vhdxfile')) return 'vhdx';
  if (/\.vmdk$/i.test(input) || (file.size >= 4 && (await file.read(0, 4)).toString('latin1') === 'KDMV')) return 'vmdk';
  if (file.size >= 512 && (await file.read(file.size - 512, 8)).toString('latin1') === 'conectix') return 'vhd';
  return 'raw';
}

/**
 * A disk file to a qcow2 file, one pass over the guest: the body is written from the end of the
 * head region on, then the head (header and L1) at offset 0.
 */
export async function convertFile(
  input: string,
  output: string,
  progress?: (bytes: number) => void,
): Promise<Qcow2Layout & { format: SourceFormat; virtualBytes: number }> {
  const fileSize = (await stat(input)).size;
  const src = await open(input, 'r');
  const out = await open(output, 'w');
  try {
    const file: RandomAccess = {
      size: fileSize,
      read: async (offset, length) => {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await src.read(buf, 0, length, offset);
        return bytesRead === length ? buf : buf.subarray(0, bytesRead);
      },
    };
    const format = await formatOf(input, file);
    const source =
      format === 'vhd'
        ? await vhdReader(file, MAX_VIRTUAL)
        : format === 'vmdk'
          ? await vmdkReader(file, MAX_VIRTUAL)
          : format === 'vhdx'
            ? await vhdxReader(file, MAX_VIRTUAL)
            : // qemu sees a raw disk in whole 512-byte sectors (the last one zero-filled): so does the image
              { virtualSize: Math.ceil(fileSize / 512) * 512, clusters: rawClusters(createReadStream(input, { highWaterMark: 1 << 20 })) };
    const virtualBytes = source.virtualSize;
    let position = 0;
    const writer = new Qcow2Writer(virtualBytes, async (chunk) => {
      await out.write(chunk, 0, chunk.length, position);
      position += chunk.length;
    });
    position = writer.headBytes;
    let read = 0;
    const feed = async (cluster: Buffer) => {
      await writer.cluster(cluster);
      read += cluster.length;
      progress?.(read);
    };
    for await (const cluster of source.clusters) await feed(cluster);
    const { head, layout } = await writer.finish();
    await out.write(head, 0, head.length, 0);
    return { ...layout, format, virtualBytes };
  } finally {
    await out.close();
    await src.close();
  }
}
