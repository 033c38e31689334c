import { describe, expect, it } from 'vitest';
import { SortedObjects, type StoredObject } from '../../local/oss/store';

/** The stand-in's ordered key index lists exactly what sorting the bucket would (OSS's order). */

describe("the OSS stand-in's key order", () => {
  it('lists under any prefix after any key as filter-and-sort does, through sets and deletes', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const alphabet = ['a', 'b', 'a/', 'ab', '~', 'z', '0'];
    const word = () => Array.from({ length: 1 + (next() % 4) }, () => alphabet[next() % alphabet.length]).join('');
    const objects = new SortedObjects();
    const naive = new Set<string>();
    for (let step = 0; step < 3000; step++) {
      const key = word();
      if (next() % 3 === 0) {
        expect(objects.delete(key)).toBe(naive.delete(key));
      } else {
        objects.set(key, { key } as StoredObject);
        naive.add(key);
      }
      if (step % 50 === 0) {
        const prefix = next() % 2 ? word() : '';
        const after = next() % 2 ? word() : '';
        const expected = [...naive].filter((k) => k.startsWith(prefix) && k > after).sort();
        expect([...objects.keysUnder(prefix, after)], `${prefix} after ${after}`).toEqual(expected);
      }
    }
    expect([...objects.keysUnder('', '')]).toEqual([...naive].sort());
    objects.clear();
    expect([...objects.keysUnder('', '')]).toEqual([]);
  });

  it('keeps the order across many blocks: thousands of keys set, split, emptied and set again', () => {
    let seed = 11;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const objects = new SortedObjects();
    const naive = new Set<string>();
    let most = 0;
    const key = () => `p${next() % 7}/${(next() % 30_000).toString(36)}`;
    for (let step = 0; step < 20_000; step++) {
      const k = key();
      // first mostly sets (blocks split), then mostly deletes (blocks empty and go)
      if (next() % 10 < (step < 12_000 ? 2 : 8)) expect(objects.delete(k)).toBe(naive.delete(k));
      else {
        objects.set(k, { key: k } as StoredObject);
        naive.add(k);
        most = Math.max(most, naive.size);
      }
      if (step % 2_000 === 0 || step === 19_999) {
        const prefix = `p${next() % 7}/`;
        const after = next() % 2 ? `${prefix}${(next() % 30_000).toString(36)}` : '';
        const expected = [...naive].filter((x) => x.startsWith(prefix) && x > after).sort();
        expect([...objects.keysUnder(prefix, after)]).toEqual(expected);
        expect([...objects.keysUnder('', '')]).toEqual([...naive].sort());
      }
    }
    // blocks of 512 split at 1,024 keys: the run went well past that, and shrank again
    expect(most).toBeGreaterThan(4 * 1_024);
    expect(naive.size).toBeLessThan(most);
    // every key deleted, blocks emptying one after another, then the bucket used again
    for (const k of [...naive].sort(() => (next() % 2 ? 1 : -1))) expect(objects.delete(k)).toBe(true);
    expect([...objects.keysUnder('', '')]).toEqual([]);
    for (const k of ['b', 'a', 'c']) objects.set(k, { key: k } as StoredObject);
    expect([...objects.keysUnder('', 'a')]).toEqual(['b', 'c']);
  });
});
