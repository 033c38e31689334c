// The converter against qemu-img convert on the same inputs, in one run, local file to local
// file. The raw disk is fully allocated (random data, then zeros actually written): a sparse
// file lets qemu-img skip its holes through the file system, which no OSS object offers, so an
// allocated file is the fair case. VMDK, VHD and VHDX are made by qemu-img from a guest that
// is a quarter data. Each side is a whole process (the converter through its CLI, start-up
// counted), median of runs, peak RSS from /usr/bin/time (a child forked by a small process).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../local/index';
import { buildCli } from '../scripts/build-cli';
import { median } from './stats';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** `dataBytes` of random data in 16 stretches, every other byte written as zeros: no holes. */
function makeAllocatedRaw(file: string, size: number, dataBytes: number): void {
  const block = Buffer.alloc(4 * MiB);
  const zeros = Buffer.alloc(4 * MiB);
  const fd = openSync(file, 'w');
  try {
    const stretch = size / 16;
    const dataPerStretch = dataBytes / 16;
    for (let at = 0; at < size; at += block.length) {
      const data = at % stretch < dataPerStretch;
      if (data) randomFillSync(block);
      writeSync(fd, data ? block : zeros, 0, block.length, at);
    }
  } finally {
    closeSync(fd);
  }
}

/** Seconds and peak RSS (KiB) of one whole process. */
function timed(command: string, args: string[]): { seconds: number; peakKiB: number } {
  const run = spawnSync('/usr/bin/time', ['-f', '%e %M', command, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr}`);
  const [seconds, peakKiB] = run.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { seconds: seconds!, peakKiB: peakKiB! };
}

function inputs(dir: string, quick: boolean): [label: string, file: string, format: string, guestBytes: number][] {
  const rawSize = quick ? GiB / 2 : 2 * GiB;
  const raw = join(dir, 'allocated.raw');
  makeAllocatedRaw(raw, rawSize, rawSize / 4);
  const guestSize = quick ? GiB / 4 : GiB;
  const guest = join(dir, 'guest.raw');
  makeAllocatedRaw(guest, guestSize, guestSize / 4);
  const made = (name: string, format: string, options: string[]) => {
    const file = join(dir, name);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, guest, file]);
    return file;
  };
  const cases: [string, string, string, number][] = [
    [`allocatedRaw${rawSize / MiB}MiB`, raw, 'raw', rawSize],
    [`streamOptimizedVmdk${guestSize / MiB}MiB`, made('disk.vmdk', 'vmdk', ['-o', 'subformat=streamOptimized']), 'vmdk', guestSize],
    [`dynamicVhd${guestSize / MiB}MiB`, made('disk.vhd', 'vpc', ['-o', 'subformat=dynamic']), 'vpc', guestSize],
    [`vhdx${guestSize / MiB}MiB`, made('disk.vhdx', 'vhdx', []), 'vhdx', guestSize],
  ];
  rmSync(guest);
  return cases;
}

export async function convertFigures(quick: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-convert-'));
  // the CLI as the package ships it (dist/cli): a clone's bin runs the sources through tsx
  const cli = resolve(PROJECT_ROOT, 'dist/cli/ens-importer.mjs');
  await buildCli();
  const runs = quick ? 1 : 5;
  const ours = join(dir, 'ours.qcow2');
  const theirs = join(dir, 'theirs.qcow2');
  try {
    const out = {} as Record<string, unknown>;
    // what each side costs before any data: an empty 64 MiB dynamic VHD, converted the same way
    const empty = join(dir, 'empty.vhd');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', empty, '64M']);
    const startUp = { oursSeconds: [] as number[], qemuImgSeconds: [] as number[] };
    for (let i = 0; i < runs * 2; i++) {
      rmSync(ours, { force: true });
      startUp.oursSeconds.push(timed(process.execPath, [cli, 'convert', empty, ours, '--json']).seconds);
      startUp.qemuImgSeconds.push(timed('qemu-img', ['convert', '-f', 'vpc', '-O', 'qcow2', empty, theirs]).seconds);
    }
    const s0 = median(startUp.oursSeconds);
    const q0 = median(startUp.qemuImgSeconds);
    out.startUp = {
      oursSeconds: s0,
      qemuImgSeconds: q0,
      nodeAloneSeconds: median(Array.from({ length: runs * 2 }, () => timed(process.execPath, ['-e', '0']).seconds)),
    };
    for (const [label, input, format, guestBytes] of inputs(dir, quick)) {
      const us: { seconds: number; peakKiB: number }[] = [];
      const them: { seconds: number; peakKiB: number }[] = [];
      for (let i = 0; i < runs; i++) {
        rmSync(ours, { force: true });
        us.push(timed(process.execPath, [cli, 'convert', input, ours, '--json']));
        them.push(timed('qemu-img', ['convert', '-f', format, '-O', 'qcow2', input, theirs]));
      }
      let identical = true;
      try {
        execFileSync('qemu-img', ['compare', '-q', ours, theirs]);
      } catch {
        identical = false;
      }
      const s = median(us.map((r) => r.seconds));
      const q = median(them.map((r) => r.seconds));
      out[label] = {
        inputBytes: statSync(input).size,
        guestBytes,
        oursSeconds: s,
        qemuImgSeconds: q,
        ratio: Math.round((s / q) * 100) / 100,
        // the data's share: each side's time less its own start-up (`startUp`)
        ratioAboveStartUp: Math.round(((s - s0) / Math.max(0.01, q - q0)) * 100) / 100,
        oursGuestMBps: Math.round(guestBytes / 1e6 / s),
        oursPeakRssMiB: Math.round(Math.max(...us.map((r) => r.peakKiB)) / 102.4) / 10,
        qemuImgPeakRssMiB: Math.round(Math.max(...them.map((r) => r.peakKiB)) / 102.4) / 10,
        outputBytes: { ours: statSync(ours).size, qemuImg: statSync(theirs).size },
        identicalGuest: identical,
      };
    }
    return {
      method: `whole processes, median of ${runs}, alternating; startUp: each side converting an empty 64 MiB VHD (median of ${runs * 2}), and ratioAboveStartUp each side's time less it; the converter through its packaged CLI bundle (start-up counted), qemu-img convert on the same file; peak RSS by /usr/bin/time; outputs compared with qemu-img compare`,
      ...out,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
