import { open, stat } from 'node:fs/promises';
import { formatOf, openDiskSource, type SourceFormat } from '../shared/convert/disk-source';
import { Qcow2Writer, type Qcow2Layout } from '../shared/convert/qcow2-writer';
import type { RandomAccess } from '../shared/convert/refusal';

/** The importer's default limit on a disk's virtual size (importer.yaml limits.maxVirtualSizeGiB). */
const MAX_VIRTUAL = 2048 * 2 ** 30;

export type { SourceFormat };

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
    const source = await openDiskSource(await formatOf(input, file), file, MAX_VIRTUAL);
    let position = 0;
    const writer = new Qcow2Writer(source.virtualSize, async (chunk) => {
      await out.write(chunk, 0, chunk.length, position);
      position += chunk.length;
    });
    position = writer.headBytes;
    let read = 0;
    for await (const cluster of source.clusters) {
      await writer.cluster(cluster);
      read += cluster.length;
      progress?.(read);
    }
    const { head, layout } = await writer.finish();
    await out.write(head, 0, head.length, 0);
    return { ...layout, format: source.format, virtualBytes: source.virtualSize };
  } finally {
    await out.close();
    await src.close();
  }
}
