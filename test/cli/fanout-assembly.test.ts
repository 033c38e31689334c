import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assembleQcow2 } from '../../shared/formats/qcow2-assembly';
import { CLUSTER, L2_SPAN } from '../../shared/formats/qcow2-layout';
import { Qcow2Writer, type GuestPiece } from '../../shared/formats/qcow2-writer';
import { decodeRangeMap, encodeRangeMap, RangeCollector, type RangeMap } from '../../shared/formats/range-map';

/**
 * The fan-out's pure half: workers' range maps and data assembled into one qcow2 (head, copied
 * data, tail) that qemu-img checks clean and finds identical to the guest and to the one-pass
 * writer's output, whatever the split.
 */

const dir = mkdtempSync(join(tmpdir(), 'fanout-assembly-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;
const LIMITS = { minHeadBytes: 100 * 1024, minCopyBytes: 100 * 1024, maxCopyBytes: 3 * CLUSTER };

/** A guest: its size and the clusters that hold data (the rest zeros), a last cluster perhaps short. */
interface Guest {
  size: number;
  data: Map<number, Buffer>;
}

function guestOf(size: number, clusters: number[], seed: number): Guest {
  const data = new Map<number, Buffer>();
  for (const c of clusters) {
    const len = Math.min(CLUSTER, size - c * CLUSTER);
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i += 512) b.writeUInt32BE((c * 7919 + i + seed) >>> 0, i);
    data.set(c, b);
  }
  return { size, data };
}

/** The guest's pieces over [from, to): data clusters as buffers, runs of zeros as counts. */
function* pieces(g: Guest, from: number, to: number): Generator<GuestPiece> {
  let zeros = 0;
  for (let at = from; at < to; at += CLUSTER) {
    const d = g.data.get(at / CLUSTER);
    if (!d) {
      zeros += Math.min(CLUSTER, to - at);
      continue;
    }
    if (zeros) yield { zeros };
    zeros = 0;
    yield d;
  }
  if (zeros) yield { zeros };
}

function rawFile(g: Guest, name: string): string {
  const file = join(dir, `${name}.raw`);
  const fd = openSync(file, 'w');
  for (const [c, b] of g.data) writeSync(fd, b, 0, b.length, c * CLUSTER);
  closeSync(fd);
  spawnSync('truncate', ['-s', String(g.size), file]);
  return file;
}

/** What the fan-out writes: each range collected apart, its map through JSON, then assembled. */
async function fannedOut(g: Guest, cuts: number[], name: string): Promise<string> {
  const bounds = [0, ...cuts, g.size];
  const maps: RangeMap[] = [];
  const objects: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const chunks: Buffer[] = [];
    const c = new RangeCollector({ from: bounds[i]!, to: bounds[i + 1]! }, (b) => void chunks.push(Buffer.from(b)));
    for (const p of pieces(g, bounds[i]!, bounds[i + 1]!)) await c.piece(p);
    maps.push(decodeRangeMap(JSON.parse(JSON.stringify(encodeRangeMap(c.finish())))));
    objects.push(Buffer.concat(chunks));
  }
  const a = assembleQcow2(g.size, maps, LIMITS);
  const inline = new Map(a.inline.map((r) => [r, objects[r]!]));
  const out = [a.head, ...a.copies.map((c) => objects[c.range]!.subarray(c.offset, c.offset + c.length)), ...a.tail(inline)];
  for (const c of a.copies.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(LIMITS.minCopyBytes);
  const file = join(dir, `${name}.fanout.qcow2`);
  writeFileSync(file, Buffer.concat(out));
  expect(Buffer.concat(out).length).toBe(a.totalBytes);
  return file;
}

async function oneWriter(g: Guest, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  const w = new Qcow2Writer(g.size, (b) => void chunks.push(Buffer.from(b)), LIMITS.minHeadBytes);
  for (const p of pieces(g, 0, g.size)) await w.piece(p);
  const { head } = await w.finish();
  const file = join(dir, `${name}.single.qcow2`);
  writeFileSync(file, Buffer.concat([head, ...chunks]));
  return file;
}

const qemu = (...args: string[]) => spawnSync('qemu-img', args, { encoding: 'utf8' });

const cases: [string, Guest, number[]][] = [
  ['all zeros, two ranges', guestOf(8 * MiB, [], 1), [4 * MiB]],
  ['one range', guestOf(8 * MiB, [0, 5, 6, 7, 127], 2), []],
  [
    'a range of one cluster (inlined) beside copied ones',
    guestOf(16 * MiB, [0, 1, 2, 3, 70, 200, 201, 202, 203, 255], 3),
    [4 * MiB, 8 * MiB],
  ],
  ['copies split at the part maximum, a short last cluster', guestOf(8 * MiB + 4096, [...Array(40).keys()].concat([128]), 4), [MiB]],
  [
    'three L2 tables, ranges across their bounds',
    guestOf(2 * L2_SPAN + 8 * MiB, [0, 8191, 8192, 8193, 16384, 16500], 5),
    [L2_SPAN - 64 * CLUSTER, L2_SPAN + 2 * MiB],
  ],
  [
    'empty ranges between full ones',
    guestOf(
      12 * MiB,
      [...Array(64).keys()].map((i) => 128 + i),
      6,
    ),
    [2 * MiB, 4 * MiB, 6 * MiB],
  ],
];

describe('a qcow2 assembled from range maps', () => {
  for (const [name, g, cuts] of cases) {
    it(`${name}: checks clean, identical to the guest and to the one-pass writer's`, async () => {
      const slug = name.replace(/\W+/g, '-');
      const raw = rawFile(g, slug);
      const fan = await fannedOut(g, cuts, slug);
      const single = await oneWriter(g, slug);
      const check = qemu('check', fan);
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(qemu('compare', '-f', 'raw', '-F', 'qcow2', raw, fan).stdout).toMatch(/identical/i);
      expect(qemu('compare', '-f', 'qcow2', '-F', 'qcow2', single, fan).stdout).toMatch(/identical/i);
    });
  }

  it('refuses maps that do not tile the guest', () => {
    const map = (from: number, to: number): RangeMap => ({
      from,
      to,
      stored: 0,
      bitmap: Buffer.alloc(Math.ceil((to - from) / CLUSTER / 8)),
    });
    expect(() => assembleQcow2(8 * MiB, [map(0, 4 * MiB)], LIMITS)).toThrow(/cover/);
    expect(() => assembleQcow2(8 * MiB, [map(0, 4 * MiB), map(5 * MiB, 8 * MiB)], LIMITS)).toThrow(/gap or overlap/);
    expect(() => assembleQcow2(8 * MiB, [map(0, 5 * MiB), map(4 * MiB, 8 * MiB)], LIMITS)).toThrow(/gap or overlap/);
  });

  it('refuses a map whose bitmap does not add up', () => {
    const good = { from: 0, to: 16 * CLUSTER, stored: 2, bitmap: Buffer.from([0b101, 0]).toString('base64') };
    expect(decodeRangeMap(good).stored).toBe(2);
    expect(() => decodeRangeMap({ ...good, stored: 3 })).toThrow(/count/);
    expect(() => decodeRangeMap({ ...good, bitmap: Buffer.from([1]).toString('base64') })).toThrow(/fit/);
    expect(() => decodeRangeMap({ ...good, from: 100 })).toThrow(/fit/);
    expect(decodeRangeMap({ ...good, to: 15 * CLUSTER + 1 }).to).toBe(15 * CLUSTER + 1); // a disk's end need not be aligned
    expect(() => decodeRangeMap({ ...good, to: 0 })).toThrow(/fit/);
    expect(() => decodeRangeMap({ from: 0, to: 10 * CLUSTER, stored: 1, bitmap: Buffer.from([0, 0b100]).toString('base64') })).toThrow(
      /count/,
    );
    expect(() => decodeRangeMap({ ...good, stored: -1 })).toThrow(/required/);
    expect(() => decodeRangeMap(null)).toThrow(/required/);
  });

  it('the assembled tail needs every inlined range whole', () => {
    const g = guestOf(8 * MiB, [3], 7);
    const c = new RangeCollector({ from: 0, to: g.size }, () => undefined);
    return (async () => {
      for (const p of pieces(g, 0, g.size)) await c.piece(p);
      const a = assembleQcow2(g.size, [c.finish()], LIMITS);
      expect(a.inline).toEqual([0]);
      expect(() => [...a.tail(new Map())]).toThrow(/not its 1 clusters/);
    })();
  });
});
