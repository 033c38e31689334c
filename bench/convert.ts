// The converter against qemu-img convert on the same inputs, in one run, local file to local
// file: a 4 GiB raw disk that is 75% zeros, and a 2 GiB streamOptimized VMDK. Each side is a
// whole process (the converter through the CLI, so its start-up is counted), median of runs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../local/index';
import { median } from './stats';

const GiB = 2 ** 30;
const time = (fn: () => void): number => {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
};

/** Data in `parts` stretches of `bytes` each, spread over the disk, the rest zeros (qemu-io patterns). */
function makeRaw(file: string, size: number, dataBytes: number): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', file, String(size)]);
  const parts = 16;
  const each = Math.floor(dataBytes / parts);
  const commands = Array.from({ length: parts }, (_, i) => ['-c', `write -P ${0x11 + i} ${Math.floor((i * size) / parts)} ${each}`]).flat();
  execFileSync('qemu-io', ['-f', 'raw', ...commands, file], { stdio: 'ignore' });
}

export async function convertFigures(quick: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-convert-'));
  const cli = resolve(PROJECT_ROOT, 'bin/ens-importer.mjs');
  const runs = quick ? 1 : 3;
  try {
    const rawSize = quick ? GiB : 4 * GiB;
    const raw = join(dir, 'disk.raw');
    makeRaw(raw, rawSize, rawSize / 4);
    const vmdkSize = quick ? GiB / 2 : 2 * GiB;
    const vmdkRaw = join(dir, 'vmdk-source.raw');
    makeRaw(vmdkRaw, vmdkSize, vmdkSize / 4);
    const vmdk = join(dir, 'disk.vmdk');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', vmdkRaw, vmdk]);
    rmSync(vmdkRaw);
    const out = {} as Record<string, unknown>;
    for (const [label, input, format] of [
      ['raw4GiB75PctZeros', raw, 'raw'],
      ['streamOptimizedVmdk2GiB', vmdk, 'vmdk'],
    ] as const) {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let i = 0; i < runs; i++) {
        ours.push(time(() => execFileSync(process.execPath, [cli, 'convert', input, join(dir, 'ours.qcow2'), '--json'])));
        theirs.push(time(() => execFileSync('qemu-img', ['convert', '-f', format, '-O', 'qcow2', input, join(dir, 'theirs.qcow2')])));
      }
      let identical = true;
      try {
        execFileSync('qemu-img', ['compare', '-q', join(dir, 'ours.qcow2'), join(dir, 'theirs.qcow2')]);
      } catch {
        identical = false;
      }
      const guestBytes = format === 'raw' ? rawSize : vmdkSize;
      out[label] = {
        inputBytes: statSync(input).size,
        guestBytes,
        oursSeconds: Math.round(median(ours) * 100) / 100,
        qemuImgSeconds: Math.round(median(theirs) * 100) / 100,
        ratio: Math.round((median(ours) / median(theirs)) * 100) / 100,
        oursGuestMBps: Math.round(guestBytes / 1e6 / median(ours)),
        outputBytes: { ours: statSync(join(dir, 'ours.qcow2')).size, qemuImg: statSync(join(dir, 'theirs.qcow2')).size },
        identicalGuest: identical,
      };
    }
    const raw4 = out.raw4GiB75PctZeros as { oursGuestMBps: number };
    // FC's timeout is at most 24 h for asynchronous invocations (s.yaml sets 120 s for the import function)
    out.hundredGiBAtThisRate = {
      seconds: Math.round((100 * GiB) / 1e6 / raw4.oursGuestMBps),
      note: 'a 100 GiB raw disk at the rate of the 4 GiB one',
    };
    return {
      method: `whole processes, median of ${runs}; the converter through its CLI (start-up counted), qemu-img ${'convert'} on the same file; outputs compared with qemu-img compare`,
      ...out,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
