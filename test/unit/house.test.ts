import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { folderCycles, folderImports, MAX_FILE_LINES, MAX_FUNCTION_LINES, measureHouse } from '../../scripts/house';

const sourcesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourcesUnder(`${dir}/${e.name}`) : /\.(ts|cjs|mjs)$/.test(e.name) ? [`${dir}/${e.name}`] : [],
  );

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
    for (const part of [
      'shared/core',
      'shared/state',
      'shared/adapters',
      'shared/runtime',
      'shared/handlers',
      'shared/lifecycle',
      'shared/import',
      'shared/conversion',
      'shared/formats',
      'shared/track',
    ])
      expect(folders).toContain(part);
  });

  it('keeps the folders of shared/ in one direction: none imports a folder that imports it back', () => {
    const edges = folderImports(process.cwd());
    expect(edges.size).toBeGreaterThan(8);
    expect(folderCycles(edges)).toEqual([]);
  });

  it('finds a loop of folders when there is one (the rule can fail)', () => {
    const edges = new Map([
      ['shared/a', new Set(['shared/b'])],
      ['shared/b', new Set(['shared/c'])],
      ['shared/c', new Set(['shared/a', 'shared/d'])],
    ]);
    expect(folderCycles(edges)).toEqual(['shared/a -> shared/b -> shared/c -> shared/a']);
  });

  it('keeps the handlers on the top floor: nothing in shared/ but a handler imports one', () => {
    const edges = folderImports(process.cwd());
    const importers = [...edges].filter(([from, to]) => from !== 'shared/handlers' && to.has('shared/handlers')).map(([from]) => from);
    expect(importers).toEqual([]);
  });

  it('keeps the unit tier (npm run test:unit) free of servers, the local stack and qemu-img', () => {
    const unit = readdirSync('test/unit').filter((f) => f.endsWith('.ts') && f !== 'house.test.ts');
    expect(unit.length).toBeGreaterThan(8);
    const heavy = /from '(?:\.\.\/)+(?:local\/|scripts\/make-fixtures)|helpers\/(?:fixtures|clients)'|node:child_process|startLocalStack/;
    expect(unit.filter((f) => heavy.test(readFileSync(`test/unit/${f}`, 'utf8')))).toEqual([]);
  });

  it('lets tests, the bench and scripts change the stand-ins only through their API, never their insides', () => {
    const files = ['test', 'bench', 'scripts'].flatMap((d) => sourcesUnder(d)).filter((f) => !f.endsWith('house.test.ts'));
    expect(files.length).toBeGreaterThan(40);
    const insides = /\.oss\.buckets\b|\.oss\.getObject\(|\.ens\.images\b|\.segments\b|process\.env\.[A-Z_]+\s*=[^=]/;
    expect(files.filter((f) => insides.test(readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('lets only the adapters import a cloud SDK', () => {
    const sdk = /from '(ali-oss|@alicloud\/pop-core|@alicloud\/fc2|@alicloud\/fc20230330)'/;
    const importers = house.files.filter((f) => f.path.startsWith('shared/') && sdk.test(readFileSync(f.path, 'utf8'))).map((f) => f.path);
    expect(importers.sort()).toEqual([
      'shared/adapters/ens.ts',
      'shared/adapters/fc.ts',
      'shared/adapters/oss-client.ts',
      'shared/adapters/ram.ts',
    ]);
  });
});
