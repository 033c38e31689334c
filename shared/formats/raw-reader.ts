import { CLUSTER } from './qcow2-writer';

/** A raw disk: its bytes are the guest's, in order, regrouped into 64 KiB clusters (the last may be short). */
export async function* rawClusters(source: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let held = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(CLUSTER - held, chunk.length - at);
      pending.push(chunk.subarray(at, at + take));
      held += take;
      at += take;
      if (held === CLUSTER) {
        yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, CLUSTER);
        pending = [];
        held = 0;
      }
    }
  }
  if (held) yield Buffer.concat(pending, held);
}
