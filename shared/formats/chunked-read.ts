import type { RandomAccess } from './refusal';

/** the largest read made of a disk's data */
const CHUNK = 4 * 2 ** 20;
/** reads in flight while one buffer is used (libuv's pool has four threads) */
const AHEAD = 4;

/** Bytes of a file a reader will ask for, in the order it will ask. */
export interface Extent {
  offset: number;
  length: number;
}

export interface ExtentReads {
  /** The next planned extent as chunks in order; a chunk is the consumer's until it asks for the next. */
  chunks(extent: Extent): AsyncGenerator<Buffer>;
  /** The next planned extent copied into a buffer of its own (a bitmap, a table). */
  whole(extent: Extent): Promise<Buffer>;
}

interface Piece extends Extent {
  last: boolean;
}

/**
 * The reads of a disk's data, planned ahead: a reader states every extent it will read, in
 * order, and the reads run ahead of it across extents, so a disk of many small blocks (a VHD's
 * 2 MiB blocks, each after its bitmap) keeps reads in flight at every block boundary instead of
 * waiting for one read at a time.
 *
 * A local file (a source that reads into a given buffer) is read 4 MiB at a time into five
 * reused buffers, four reads in flight: nothing is allocated per read, and each extent's chunks
 * start at its first byte, so its 64 KiB clusters never straddle two of them. Any other source
 * (ranged GETs through cached blocks, its own read-ahead) is asked one chunk ahead, cut where its
 * 4 MiB blocks are, so each read is a slice of one cached block: asking more evicts its cache.
 */
export function extentReads(src: RandomAccess, plan: Iterable<Extent>): ExtentReads {
  const readInto = src.readInto?.bind(src);
  const ring = readInto ? Array.from({ length: AHEAD + 1 }, () => Buffer.allocUnsafe(CHUNK)) : [];
  let turn = 0;
  const start = (piece: Piece): Promise<Buffer> => {
    if (!readInto) return src.read(piece.offset, piece.length);
    const target = ring[turn++ % ring.length]!.subarray(0, piece.length);
    return readInto(target, piece.offset).then((got) => target.subarray(0, got));
  };
  const pieces = piecesOf(plan, !readInto);
  const queue: { piece: Piece; read: Promise<Buffer> }[] = [];
  const fill = () => {
    while (queue.length < (readInto ? AHEAD : 1)) {
      const next = pieces.next();
      if (next.done) return;
      const read = start(next.value);
      // a read that fails while another buffer is used surfaces at its own await, not unhandled
      read.catch(() => undefined);
      queue.push({ piece: next.value, read });
    }
  };
  async function* chunks(extent: Extent): AsyncGenerator<Buffer> {
    fill();
    let expected = extent.offset;
    for (;;) {
      const head = queue.shift();
      if (!head || head.piece.offset !== expected) throw new Error(`extent at byte ${extent.offset} was not planned here`);
      const data = await head.read;
      if (data.length < head.piece.length) throw new Error(`short read at byte ${expected}: ${data.length} of ${head.piece.length}`);
      // the buffer the next read fills held the chunk before this one, which the consumer left
      fill();
      yield data;
      expected += data.length;
      if (head.piece.last) break;
    }
    if (expected !== extent.offset + extent.length) throw new Error(`extent at byte ${extent.offset} was planned with another length`);
  }
  return {
    chunks,
    async whole(extent) {
      const parts: Buffer[] = [];
      for await (const chunk of chunks(extent)) parts.push(Buffer.from(chunk));
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    },
  };
}

/** One extent's whole bytes as chunks: a fixed disk, a raw disk, a range of either. */
export async function* readSpan(src: RandomAccess, offset: number, length: number): AsyncGenerator<Buffer> {
  if (length <= 0) return;
  const extent = { offset, length };
  yield* extentReads(src, [extent]).chunks(extent);
}

function* piecesOf(plan: Iterable<Extent>, cutAtBlocks: boolean): Generator<Piece> {
  for (const { offset, length } of plan) {
    if (!(length > 0)) throw new Error(`an empty extent at byte ${offset} was planned`);
    const end = offset + length;
    for (let at = offset; at < end; ) {
      const to = Math.min(end, cutAtBlocks ? (Math.floor(at / CHUNK) + 1) * CHUNK : at + CHUNK);
      yield { offset: at, length: to - at, last: to === end };
      at = to;
    }
  }
}
