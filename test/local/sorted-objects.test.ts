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
});
