import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/index';

/**
 * A local file's data is read 4 MiB at a time into five reused buffers (shared/formats/chunked-read.ts):
 * a guest of random bytes over many such reads, with holes between, must come out exactly, so a
 * buffer refilled before its clusters were taken would show as another guest.
 */

const MiB = 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), 'convert-chunked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const guest = (() => {
  const raw = join(dir, 'guest.raw');
  closeSync(openSync(raw, 'w'));
  truncateSync(raw, 64 * MiB);
  const fd = openSync(raw, 'r+');
  // 22 MiB of random bytes from an odd offset (across chunk and block bounds), then 9 MiB more after a hole
  for (const [at, length] of [
    [3 * MiB + 4096, 22 * MiB],
    [40 * MiB, 9 * MiB],
  ]) {
    const data = randomFillSync(Buffer.alloc(length!));
    writeSync(fd, data, 0, data.length, at);
  }
  closeSync(fd);
  return raw;
})();

const cases: [string, string, string[]][] = [
  ['fixed VHD', 'vpc', ['-o', 'subformat=fixed']],
  ['dynamic VHD (2 MiB blocks)', 'vpc', ['-o', 'subformat=dynamic']],
  ['VHDX (1 MiB blocks)', 'vhdx', ['-o', 'block_size=1M']],
  ['VHDX (32 MiB blocks)', 'vhdx', ['-o', 'block_size=32M']],
];

describe('a local disk read in large reads into reused buffers', () => {
  for (const [name, format, options] of cases) {
    it(`${name}: random data over many reads converts to the identical guest`, () => {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.${format}`);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, guest, file]);
      const out = `${file}.qcow2`;
      execFileSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', file, out, '--json'], { encoding: 'utf8' });
      const compare = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', guest, out], { encoding: 'utf8' });
      expect(compare.stdout + compare.stderr).toMatch(/identical/i);
    });
  }
});
