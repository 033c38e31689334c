import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_FILE_LINES, MAX_FUNCTION_LINES, measureHouse } from '../../scripts/house';

describe('the house a newcomer reads', () => {
  const house = measureHouse(process.cwd());

  it(`keeps every file in shared/, functions/ and bin/ at ${MAX_FILE_LINES} lines or fewer`, () => {
    expect(house.files.length).toBeGreaterThan(30);
    expect(house.files.filter((f) => f.lines > MAX_FILE_LINES)).toEqual([]);
  });

  it(`keeps every function there at ${MAX_FUNCTION_LINES} lines or fewer`, () => {
    expect(house.functions.length).toBeGreaterThan(200);
    expect(house.functions.filter((f) => f.lines > MAX_FUNCTION_LINES)).toEqual([]);
  });

  it('names each part of the design by its folder', () => {
    const folders = new Set(house.files.map((f) => f.path.split('/').slice(0, 2).join('/')));
    for (const part of ['shared/core', 'shared/state', 'shared/adapters', 'shared/runtime', 'shared/import', 'shared/track'])
      expect(folders).toContain(part);
  });

  it('lets only the adapters import a cloud SDK', () => {
    const sdk = /from '(ali-oss|@alicloud\/pop-core|@alicloud\/fc2|@alicloud\/fc20230330)'/;
    const importers = house.files.filter((f) => f.path.startsWith('shared/') && sdk.test(readFileSync(f.path, 'utf8'))).map((f) => f.path);
    expect(importers.sort()).toEqual([
      'shared/adapters/ens.ts',
      'shared/adapters/fc.ts',
      'shared/adapters/oss.ts',
      'shared/adapters/ram.ts',
    ]);
  });
});
