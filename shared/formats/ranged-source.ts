import type { RandomAccess } from './refusal';

/**
 * Positioned reads of a remote object through aligned blocks: a reader's many small reads
 * (a cluster, a grain, a table) become few ranged GETs, and the `ahead` blocks after the one
 * read are fetched while it is used (several GETs in flight: one connection's throughput is
 * not the limit). At most `ahead + 2` blocks are held.
 */
export function blockCachedSource(
  size: number,
  fetch: (offset: number, length: number) => Promise<Buffer>,
  block = 4 << 20,
  ahead = 1,
): RandomAccess & { requests: number } {
  const keep = ahead + 2;
  const cache = new Map<number, Promise<Buffer>>();
  const state = { requests: 0 };
  const get = (index: number): Promise<Buffer> => {
    let hit = cache.get(index);
    if (hit) {
      cache.delete(index);
      cache.set(index, hit);
      return hit;
    }
    const offset = index * block;
    state.requests += 1;
    hit = fetch(offset, Math.min(block, size - offset));
    // a failed fetch is not kept: the next read asks again
    hit.catch(() => cache.delete(index));
    cache.set(index, hit);
    while (cache.size > keep) cache.delete(cache.keys().next().value!);
    return hit;
  };
  return {
    size,
    get requests() {
      return state.requests;
    },
    async read(offset, length) {
      const end = Math.min(size, offset + length);
      if (offset >= end) return Buffer.alloc(0);
      const first = Math.floor(offset / block);
      const last = Math.floor((end - 1) / block);
      const parts: Buffer[] = [];
      for (let i = first; i <= last; i++) {
        const data = await get(i);
        parts.push(data.subarray(Math.max(0, offset - i * block), Math.min(data.length, end - i * block)));
      }
      for (let i = last + 1; i <= last + ahead && i * block < size; i++) if (!cache.has(i)) get(i).catch(() => undefined);
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    },
  };
}
