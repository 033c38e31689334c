import { CLUSTER } from './qcow2-layout';
import type { RandomAccess } from './refusal';

/** the largest read a reader makes of a local file's data */
const CHUNK = 4 * 2 ** 20;
/** reads in flight while one buffer is used (libuv's pool has four threads) */
const AHEAD = 4;

/**
 * A stretch of data that is the guest as it is (a VHD block whose sectors are all present, a
 * VHDX payload block, a fixed VHD), yielded as its 64 KiB clusters. A local file (a source that
 * reads into a given buffer) is read 4 MiB at a time into five reused buffers, the next four reads
 * in flight while one is used: one read per 4 MiB instead of one per cluster, and nothing
 * allocated per cluster. The consumer is done with a cluster when it asks for the next (the
 * sinks copy what they keep), so a buffer is refilled only after its clusters were all taken.
 * Any other source (ranged GETs through cached blocks) is read a cluster at a time, as slices
 * of its blocks.
 */
export function dataReader(src: RandomAccess): (offset: number, length: number) => AsyncGenerator<Buffer> {
  const readInto = src.readInto?.bind(src);
  if (!readInto)
    return async function* perCluster(offset, length) {
      for (let at = 0; at < length; at += CLUSTER) yield await src.read(offset + at, Math.min(CLUSTER, length - at));
    };
  const ring = Array.from({ length: AHEAD + 1 }, () => Buffer.allocUnsafe(CHUNK));
  let turn = 0;
  const readChunk = (at: number, n: number): Promise<Buffer> => {
    const target = ring[turn++ % ring.length]!.subarray(0, n);
    const read = readInto(target, at).then((got) => target.subarray(0, got));
    // a read that fails while another buffer is used surfaces at its own await, not unhandled
    read.catch(() => undefined);
    return read;
  };
  return async function* chunked(offset, length) {
    const queue: { at: number; n: number; read: Promise<Buffer> }[] = [];
    let nextAt = 0;
    const fill = () => {
      while (queue.length < AHEAD && nextAt < length) {
        const n = Math.min(CHUNK, length - nextAt);
        queue.push({ at: nextAt, n, read: readChunk(offset + nextAt, n) });
        nextAt += n;
      }
    };
    fill();
    while (queue.length) {
      const { at, n, read } = queue.shift()!;
      const data = await read;
      if (data.length < n) throw new Error(`short read at byte ${offset + at}: ${data.length} of ${n}`);
      // the buffer the new read fills held the chunk before this one: its clusters were all taken
      fill();
      for (let c = 0; c < n; c += CLUSTER) yield data.subarray(c, Math.min(c + CLUSTER, n));
    }
  };
}
