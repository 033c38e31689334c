import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CODE_FAMILIES, CODES, describeCode } from '../../shared/core/codes';

/**
 * The README is for an operator: short, and with the docs it names every code the code can
 * produce, every log event and every command. Codes are collected from the source itself, so
 * a new one without documentation fails here.
 */

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string) => readFileSync(resolve(PROJECT_ROOT, p), 'utf8');
const readme = read('README.md');
const docs = [readme, ...readdirSync(resolve(PROJECT_ROOT, 'docs')).map((f) => read(join('docs', f)))].join('\n');

function sources(dir: string): string[] {
  return readdirSync(resolve(PROJECT_ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(resolve(PROJECT_ROOT, path)).isDirectory() ? sources(path) : path.endsWith('.ts') ? [read(path)] : [];
  });
}
const code = sources('shared').join('\n');
const found = (re: RegExp): string[] => [...new Set([...code.matchAll(re)].map((m) => m[1]!))];

/** Every code the source can write, collected from the source itself. */
const sourceCodes = (): string[] => [
  ...found(/(?:errorCode|code|error): '([A-Za-z][\w.-]+)'/g),
  ...found(/CallError\('([A-Za-z][\w.-]+)'/g),
  ...found(/Refusal\('([a-z][\w.-]+)'/g),
  ...found(/'((?:manifest|retries)-[a-z-]+)'/g),
  // ENS's failure statuses become ens:error as they are
  ...[...(/FAILED = new Set\(\[([^\]]*)\]/.exec(code)?.[1] ?? '').matchAll(/'(\w+)'/g)].map((m) => m[1]!),
];

describe('the README', () => {
  it('is at most 12 KB and leads with what it does and the two commands', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(12 * 1024);
    expect(readme.indexOf('## The two commands')).toBeLessThan(readme.indexOf('## Configure'));
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });

  it('links only to docs that exist', () => {
    for (const m of readme.matchAll(/\]\((docs\/[\w.-]+)(#[\w-]+)?\)/g)) expect(() => read(m[1]!), m[1]).not.toThrow();
  });
});

describe('the docs name', () => {
  it('every error and outcome code the source can produce', () => {
    const codes = sourceCodes();
    expect(codes).toEqual(expect.arrayContaining(['Pack_failed', 'Upload_failed', 'Unavailable', 'format-needs-conversion']));
    expect(codes.length).toBeGreaterThan(40);
    const missing = codes.filter((c) => !docs.includes(`\`${c}\``));
    expect(missing).toEqual([]);
    // codes made from a field name
    for (const family of ['InvalidParameter.<Field>', 'MissingParameter.<Field>']) expect(docs).toContain(family);
  });

  it('every code the source can produce is in the one taxonomy (shared/core/codes.ts), and the docs list each entry', () => {
    const events = new Set(found(/event: '([a-z][\w-]+)'/g));
    const codes = sourceCodes().filter((c) => !events.has(c));
    expect(codes.length).toBeGreaterThan(60);
    expect(codes.filter((c) => describeCode(c) === undefined)).toEqual([]);
    const operations = read('docs/operations.md');
    expect(Object.keys(CODES).filter((c) => !operations.includes(`\`${c}\``))).toEqual([]);
    for (const f of CODE_FAMILIES) expect(operations, f.prefix).toMatch(new RegExp(`\`${f.prefix.replace('.', '\\.')}`));
    // a family entry answers for its members, the longer prefix first
    expect(describeCode('vhdx-bad-header')?.remedy).toMatch(/re-export/);
    expect(describeCode('InvalidParameter.ImageName')?.outcome).toBe('rejected');
    expect(describeCode('no-such-code')).toBeUndefined();
  });

  it('every log event', () => {
    const events = found(/event: '([a-z][\w-]+)'/g);
    expect(events.length).toBeGreaterThan(15);
    expect(events.filter((e) => !docs.includes(`\`${e}\``))).toEqual([]);
  });

  it('every CLI command, in the README', () => {
    const commands = [
      ...sources('bin')
        .join('\n')
        .matchAll(/\.command\('([a-z-]+)/g),
    ].map((m) => m[1]!);
    const cli = read('bin/cli.ts');
    commands.push(...[...cli.matchAll(/\.command\('([a-z-]+)/g)].map((m) => m[1]!));
    expect(new Set(commands).size).toBeGreaterThanOrEqual(9);
    for (const c of new Set(commands)) expect(readme, c).toMatch(new RegExp(`\\| \`${c}[ \`]`));
  });
});
