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
  // blocks a read has used go first: evicting a prefetched block before its turn fetches it twice
  const used = new Set<number>();
  const state = { requests: 0 };
  const evict = () => {
    const victim = [...cache.keys()].find((i) => used.has(i)) ?? cache.keys().next().value!;
    cache.delete(victim);
    used.delete(victim);
  };
  const get = (index: number, use: boolean): Promise<Buffer> => {
    if (use) used.add(index);
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
    hit.catch(() => {
      cache.delete(index);
      used.delete(index);
    });
    cache.set(index, hit);
    while (cache.size > keep) evict();
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
        const data = await get(i, true);
        parts.push(data.subarray(Math.max(0, offset - i * block), Math.min(data.length, end - i * block)));
      }
      for (let i = last + 1; i <= last + ahead && i * block < size; i++) if (!cache.has(i)) get(i, false).catch(() => undefined);
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    },
  };
}
