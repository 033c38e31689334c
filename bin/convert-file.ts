import { open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { rawClusters } from '../shared/convert/raw-reader';
import { Qcow2Writer, type Qcow2Layout } from '../shared/convert/qcow2-writer';

/**
 * A raw disk file to a qcow2 file, one pass: the body is written from the end of the head
 * region on, then the head (header and L1) at offset 0.
 */
export async function convertRawFile(input: string, output: string, progress?: (bytes: number) => void): Promise<Qcow2Layout> {
  // qemu sees a raw disk in whole 512-byte sectors (the last one zero-filled): so does the image
  const size = Math.ceil((await stat(input)).size / 512) * 512;
  const out = await open(output, 'w');
  try {
    let position = 0;
    const writer = new Qcow2Writer(size, async (chunk) => {
      await out.write(chunk, 0, chunk.length, position);
      position += chunk.length;
    });
    position = writer.headBytes;
    let read = 0;
    for await (const cluster of rawClusters(createReadStream(input, { highWaterMark: 1 << 20 }))) {
      await writer.cluster(cluster);
      read += cluster.length;
      progress?.(read);
    }
    const { head, layout } = await writer.finish();
    await out.write(head, 0, head.length, 0);
    return layout;
  } finally {
    await out.close();
  }
}
