import { CLUSTER, isZeroRun, ZERO_CLUSTER, type GuestPiece } from './qcow2-writer';

/**
 * A raw disk: its bytes are the guest's, in order, regrouped into whole 64 KiB clusters (the
 * last may be short): a read that starts on a cluster boundary passes on whole, only a cluster
 * split between two reads is copied. Runs of zeros a reader already knows pass on as runs
 * wherever they cover whole clusters; their ragged edges are filled from the one shared zero
 * buffer.
 */
export async function* rawClusters(source: AsyncIterable<GuestPiece> | Iterable<GuestPiece>): AsyncGenerator<GuestPiece> {
  let pending: Buffer[] = [];
  let held = 0;
  function* take(chunk: Buffer): Generator<Buffer> {
    let at = 0;
    while (at < chunk.length) {
      // whole clusters from a cluster boundary pass on as one piece, no copy
      const whole = held ? 0 : chunk.length - at - ((chunk.length - at) % CLUSTER);
      if (whole) {
        yield chunk.subarray(at, at + whole);
        at += whole;
        continue;
      }
      const n = Math.min(CLUSTER - held, chunk.length - at);
      pending.push(chunk.subarray(at, at + n));
      held += n;
      at += n;
      if (held === CLUSTER) {
        yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, CLUSTER);
        pending = [];
        held = 0;
      }
    }
  }
  for await (const piece of source) {
    if (!isZeroRun(piece)) {
      yield* take(piece);
      continue;
    }
    let left = piece.zeros;
    if (held) {
      const n = Math.min(CLUSTER - held, left);
      yield* take(ZERO_CLUSTER.subarray(0, n));
      left -= n;
    }
    const whole = left - (left % CLUSTER);
    if (whole) yield { zeros: whole };
    if (left > whole) yield* take(ZERO_CLUSTER.subarray(0, left - whole));
  }
  if (held) yield Buffer.concat(pending, held);
}
