import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isZeroRun } from '../../shared/formats/qcow2-writer';
import type { RandomAccess } from '../../shared/formats/refusal';
import { openDiskSource, type SourceFormat } from '../../shared/formats/registry';

/**
 * A reader asked for a guest range (what a fan-out worker converts) yields exactly that stretch
 * of the guest: two halves, read apart, are the whole disk read at once.
 */

const dir = mkdtempSync(join(tmpdir(), 'convert-range-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;
const SIZE = 8 * MiB;

const guest = (() => {
  const raw = join(dir, 'guest.raw');
  closeSync(openSync(raw, 'w'));
  truncateSync(raw, SIZE);
  const fd = openSync(raw, 'r+');
  // data on both sides of the split at 4 MiB, and a hole before it
  const data = Buffer.alloc(MiB + 4096);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  writeSync(fd, data, 0, data.length, 3.5 * MiB);
  writeSync(fd, Buffer.alloc(MiB, 0x5a), 0, MiB, 0);
  closeSync(fd);
  return raw;
})();

const made = (format: string, options: string[]): Buffer => {
  const file = `${guest}.${format}.${options.join('')}`;
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, guest, file]);
  return readFileSync(file);
};
const source = (b: Buffer): RandomAccess => ({ size: b.length, read: async (o, l) => b.subarray(o, o + l) });

async function guestBytes(format: SourceFormat, file: Buffer, range?: { from: number; to: number }): Promise<Buffer> {
  const disk = await openDiskSource(format, source(file), 2 ** 40, range);
  const out: Buffer[] = [];
  for await (const p of disk.clusters) out.push(isZeroRun(p) ? Buffer.alloc(p.zeros) : Buffer.from(p));
  return Buffer.concat(out);
}

const cases: [string, SourceFormat, Buffer][] = [
  ['raw', 'raw', readFileSync(guest)],
  ['vhd dynamic (2 MiB blocks)', 'vhd', made('vpc', ['-o', 'subformat=dynamic'])],
  ['vhd fixed', 'vhd', made('vpc', ['-o', 'subformat=fixed'])],
  ['vmdk streamOptimized (64 KiB grains)', 'vmdk', made('vmdk', ['-o', 'subformat=streamOptimized'])],
  ['vhdx (1 MiB blocks)', 'vhdx', made('vhdx', ['-o', 'block_size=1M'])],
];

describe('a reader asked for a guest range', () => {
  for (const [name, format, file] of cases) {
    it(`${name}: the two halves are the whole guest`, async () => {
      const whole = await guestBytes(format, file);
      expect(whole.subarray(0, SIZE).equals(readFileSync(guest))).toBe(true);
      const first = await guestBytes(format, file, { from: 0, to: 4 * MiB });
      const second = await guestBytes(format, file, { from: 4 * MiB, to: whole.length });
      expect(first.length).toBe(4 * MiB);
      expect(Buffer.concat([first, second]).equals(whole)).toBe(true);
    });
  }

  it('refuses a range that does not start on a block boundary', async () => {
    await expect(guestBytes('raw', readFileSync(guest), { from: 1000, to: SIZE })).rejects.toThrow(/boundary/);
  });
});
