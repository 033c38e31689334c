import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/index';
import { type GuestPiece, Qcow2Writer } from '../../shared/formats/qcow2-writer';
import { rawClusters } from '../../shared/formats/raw-reader';
import { inspectQcow2 } from '../../shared/core/qcow2';
import type { RandomAccess } from '../../shared/formats/refusal';
import { vhdReader } from '../../shared/formats/vhd-reader';
import { vhdxReader } from '../../shared/formats/vhdx-reader';
import { vmdkReader } from '../../shared/formats/vmdk-reader';

/** The converter's output, proven by qemu-img: `check` finds no error, `compare` finds the guest identical. */

const dir = mkdtempSync(join(tmpdir(), 'convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a reader makes of bytes in memory: 'converted', or the code it refused with. */
async function readerVerdict(
  reader: (src: RandomAccess, limit: number) => Promise<{ clusters: AsyncGenerator<GuestPiece> }>,
  b: Buffer,
  limit: number,
): Promise<string> {
  const src: RandomAccess = { size: b.length, read: async (o, l) => b.subarray(o, o + l) };
  try {
    for await (const _ of (await reader(src, limit)).clusters) void _;
    return 'converted';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

const qemu = (args: string[]) => spawnSync('qemu-img', args, { encoding: 'utf8' });
function sparseRaw(name: string, size: number, writes: [number, number, number][]): string {
  const file = join(dir, name);
  truncateSync(openAndClose(file), size);
  const fd = openSync(file, 'r+');
  for (const [offset, length, byte] of writes) writeSync(fd, Buffer.alloc(length, byte), 0, length, offset);
  closeSync(fd);
  return file;
}
function openAndClose(file: string): string {
  closeSync(openSync(file, 'w'));
  return file;
}
const MiB = 2 ** 20;

describe('ens-importer convert (raw → qcow2)', () => {
  const cases: [string, number, [number, number, number][]][] = [
    [
      'an odd size, data at both ends',
      300 * MiB + 1234,
      [
        [0, MiB, 0xab],
        [300 * MiB, 1234, 0x5],
      ],
    ],
    [
      'three L2 spans, an empty one between',
      1300 * MiB,
      [
        [10 * MiB, 3 * MiB, 1],
        [1100 * MiB, 64 * 1024 + 1, 2],
      ],
    ],
    ['all zeros', 64 * MiB, []],
  ];
  for (const [title, size, writes] of cases) {
    it(title, () => {
      const raw = sparseRaw(`${title.replace(/\W+/g, '-')}.raw`, size, writes);
      const out = `${raw}.qcow2`;
      const r = execFileSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', raw, out, '--json'], {
        encoding: 'utf8',
      });
      const report = JSON.parse(r);
      expect(report.virtualBytes).toBe(Math.ceil(size / 512) * 512);
      const check = qemu(['check', '--output=json', out]);
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({ 'check-errors': 0 });
      const compare = qemu(['compare', '-f', 'raw', '-F', 'qcow2', raw, out]);
      expect(compare.status, compare.stdout + compare.stderr).toBe(0);
      // sparse: only the clusters that hold data are stored
      const written = writes.reduce((n, [o, l]) => n + Math.ceil((o + l) / 65536) - Math.floor(o / 65536), 0);
      expect(report.dataClusters).toBe(written);
      // and the importer's own inspector takes it
      const head = readFileSync(out).subarray(0, 65536);
      expect(inspectQcow2(head, report.totalBytes, { maxVirtualSizeBytes: 2048n * 2n ** 30n }).refusals).toEqual([]);
    });
  }

  it('pads the head region to a multipart upload’s minimum part, still a clean image', async () => {
    const raw = sparseRaw('padded.raw', 10 * MiB, [[MiB, MiB, 7]]);
    const chunks: Buffer[] = [];
    const writer = new Qcow2Writer(10 * MiB, (c) => void chunks.push(c), 100 * 1024);
    expect(writer.headBytes).toBe(2 * 65536);
    for await (const c of rawClusters([readFileSync(raw)])) await writer.piece(c);
    const { head } = await writer.finish();
    const out = join(dir, 'padded.qcow2');
    const fd = openSync(out, 'w');
    writeSync(fd, Buffer.concat([head, ...chunks]));
    closeSync(fd);
    expect(qemu(['check', out]).status).toBe(0);
    expect(qemu(['compare', '-f', 'raw', '-F', 'qcow2', raw, out]).status).toBe(0);
  });

  it('refuses more data than the virtual size, and a short input', async () => {
    const w = new Qcow2Writer(65536, () => undefined);
    await w.cluster(Buffer.alloc(65536, 1));
    await expect(w.cluster(Buffer.alloc(1))).rejects.toThrow(/more data/);
    const short = new Qcow2Writer(3 * 65536, () => undefined);
    await short.cluster(Buffer.alloc(65536));
    await expect(short.finish()).rejects.toThrow(/short input/);
  });
});

describe('VHD (fixed and dynamic) → qcow2', () => {
  for (const subformat of ['dynamic', 'fixed']) {
    it(`a ${subformat} VHD made by qemu-img converts to an identical guest`, () => {
      const raw = sparseRaw(`vhd-${subformat}.raw`, 100 * MiB, [
        [0, MiB, 0xab],
        [50 * MiB + 512, 3 * MiB, 0x11],
        [99 * MiB, MiB, 5],
      ]);
      const vhd = `${raw}.vhd`;
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', `subformat=${subformat}`, raw, vhd]);
      const out = `${vhd}.qcow2`;
      const report = JSON.parse(
        execFileSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', vhd, out, '--json'], {
          encoding: 'utf8',
        }),
      );
      expect(report.format).toBe('vhd');
      expect(qemu(['check', out]).status).toBe(0);
      const compare = qemu(['compare', '-f', 'vpc', '-F', 'qcow2', vhd, out]);
      expect(compare.status, compare.stdout + compare.stderr).toBe(0);
    });
  }
});

describe('ens-importer convert reads its input the way the function does', () => {
  it('refuses a qcow2 named .img (a cloud image) with the reason, leaving no output, instead of wrapping it', () => {
    const img = join(dir, 'cloud.img');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
    const out = join(dir, 'cloud-out.qcow2');
    const r = spawnSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', img, out, '--json'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ refused: 'convert-already-qcow2' });
    expect(() => readFileSync(out)).toThrow();
  });
});

describe('hostile VHDs are refused with their own code, never a hang or an unbounded read', () => {
  const sum = (b: Buffer, at: number) => {
    let s = 0;
    for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) s = (s + b[i]!) >>> 0;
    b.writeUInt32BE(~s >>> 0, at);
  };
  const made = (() => {
    let cached: Buffer | undefined;
    return () => {
      if (cached) return Buffer.from(cached);
      const raw = sparseRaw('hostile.raw', 8 * MiB, [[0, 4 * MiB, 1]]);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, `${raw}.vhd`]);
      cached = readFileSync(`${raw}.vhd`);
      return Buffer.from(cached);
    };
  })();
  const footerAt = (b: Buffer) => b.length - 512;
  const headerAt = (b: Buffer) => Number(b.readBigUInt64BE(footerAt(b) + 16));
  const batAt = (b: Buffer) => Number(b.readBigUInt64BE(headerAt(b) + 16));
  const refused = (b: Buffer, limit = 2 ** 40) => readerVerdict(vhdReader, b, limit);

  it('a clean one converts', async () => expect(await refused(made())).toBe('converted'));
  it('a sector whose bitmap bit is clear reads as zeros, through a local file’s reads and through ranged reads', async () => {
    const b = made();
    const block = b.readUInt32BE(batAt(b)) * 512;
    // the first block (2 MiB, all ones in the guest): sectors 0-3 absent, 4-7 present, a 4 KiB run absent
    b[block] = 0x0f;
    b[block + 5] = 0;
    // qemu-img rounds the guest up to its CHS geometry: the footer says how big it is
    const expected = Buffer.alloc(Number(b.readBigUInt64BE(footerAt(b) + 48)));
    expected.fill(1, 0, 4 * MiB);
    expected.fill(0, 0, 4 * 512);
    expected.fill(0, 5 * 4096, 6 * 4096);
    for (const local of [true, false]) {
      const src: RandomAccess = {
        size: b.length,
        read: async (o, l) => b.subarray(o, o + l),
        readInto: local ? async (t, o) => b.copy(t, 0, o, o + t.length) : undefined,
      };
      const got: Buffer[] = [];
      for await (const p of (await vhdReader(src, 2 ** 40)).clusters) got.push(Buffer.isBuffer(p) ? Buffer.from(p) : Buffer.alloc(p.zeros));
      expect(Buffer.concat(got).equals(expected), local ? 'local' : 'ranged').toBe(true);
    }
  });
  it('no footer', async () => expect(await refused(Buffer.alloc(4096))).toBe('vhd-footer-missing'));
  it('a footer whose checksum is wrong', async () => {
    const b = made();
    b.writeUInt8(b.readUInt8(footerAt(b) + 48) ^ 1, footerAt(b) + 48);
    expect(await refused(b)).toBe('vhd-footer-checksum');
  });
  it('a differencing disk', async () => {
    const b = made();
    b.writeUInt32BE(4, footerAt(b) + 60);
    sum(b.subarray(footerAt(b), footerAt(b) + 512), 64);
    expect(await refused(b)).toBe('vhd-differencing');
  });
  it('a virtual size over the limit', async () => expect(await refused(made(), MiB)).toBe('vhd-bad-size'));
  it('a block size that is not a power of two', async () => {
    const b = made();
    b.writeUInt32BE(3 * 65536, headerAt(b) + 32);
    sum(b.subarray(headerAt(b), headerAt(b) + 1024), 36);
    expect(await refused(b)).toBe('vhd-bad-block-size');
  });
  it('a block table entry pointing past the end of the file', async () => {
    const b = made();
    b.writeUInt32BE(0x7fffffff, batAt(b));
    expect(await refused(b)).toBe('vhd-block-outside');
  });
  it('two blocks at the same place', async () => {
    const b = made();
    b.writeUInt32BE(b.readUInt32BE(batAt(b)), batAt(b) + 4);
    expect(await refused(b)).toBe('vhd-blocks-overlap');
  });
  it('a table that runs past the end of the file', async () => {
    const b = made();
    b.writeBigUInt64BE(BigInt(b.length), headerAt(b) + 16);
    sum(b.subarray(headerAt(b), headerAt(b) + 1024), 36);
    expect(await refused(b)).toBe('vhd-bad-table');
  });
});

describe('VMDK (monolithicSparse, streamOptimized) → qcow2, and hostile VMDKs refused', () => {
  const made: Record<string, Buffer> = {};
  const vmdk = (subformat: string): Buffer => {
    if (!made[subformat]) {
      const raw = sparseRaw(`vmdk-${subformat}.raw`, 100 * MiB, [
        [0, MiB, 0xab],
        [50 * MiB + 4096, 3 * MiB, 0x11],
        [99 * MiB, MiB, 5],
      ]);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, `${raw}.vmdk`]);
      made[subformat] = readFileSync(`${raw}.vmdk`);
    }
    return Buffer.from(made[subformat]!);
  };
  for (const subformat of ['monolithicSparse', 'streamOptimized']) {
    it(`${subformat} made by qemu-img converts to an identical guest`, () => {
      const file = join(dir, `${subformat}.vmdk`);
      const fd = openSync(file, 'w');
      writeSync(fd, vmdk(subformat));
      closeSync(fd);
      const out = `${file}.qcow2`;
      const report = JSON.parse(
        execFileSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', file, out, '--json'], {
          encoding: 'utf8',
        }),
      );
      expect(report).toMatchObject({ format: 'vmdk', virtualBytes: 100 * MiB });
      expect(qemu(['check', out]).status).toBe(0);
      const compare = qemu(['compare', '-f', 'vmdk', '-F', 'qcow2', file, out]);
      expect(compare.status, compare.stdout + compare.stderr).toBe(0);
    });
  }

  const refusal = (b: Buffer, limit = 2 ** 40) => readerVerdict(vmdkReader, b, limit);
  /** the byte offset of grain table entry `e` of the first table */
  const gtEntryAt = (b: Buffer, e: number) => b.readUInt32LE(Number(b.readBigUInt64LE(56)) * 512) * 512 + e * 4;

  it('clean ones convert', async () => {
    expect(await refusal(vmdk('monolithicSparse'))).toBe('converted');
    expect(await refusal(vmdk('streamOptimized'))).toBe('converted');
  });
  it('not a sparse extent', async () => expect(await refusal(Buffer.alloc(4096))).toBe('vmdk-bad-magic'));
  it('a capacity over the limit', async () => expect(await refusal(vmdk('monolithicSparse'), MiB)).toBe('vmdk-bad-size'));
  it('a grain size that is not a power of two', async () => {
    const b = vmdk('monolithicSparse');
    b.writeBigUInt64LE(100n, 20);
    expect(await refusal(b)).toBe('vmdk-bad-grain-size');
  });
  it('a grain directory outside the file', async () => {
    const b = vmdk('monolithicSparse');
    b.writeBigUInt64LE(BigInt(b.length), 56);
    expect(await refusal(b)).toBe('vmdk-bad-table');
  });
  it('a grain pointing past the end of the file', async () => {
    const b = vmdk('monolithicSparse');
    b.writeUInt32LE(0x7fffff00, gtEntryAt(b, 0));
    expect(await refusal(b)).toBe('vmdk-grain-outside');
  });
  it('two grains in one place', async () => {
    const b = vmdk('monolithicSparse');
    b.writeUInt32LE(b.readUInt32LE(gtEntryAt(b, 0)), gtEntryAt(b, 1));
    expect(await refusal(b)).toBe('vmdk-grains-overlap');
  });
  it('a grain off its grain boundary', async () => {
    const b = vmdk('monolithicSparse');
    b.writeUInt32LE(b.readUInt32LE(gtEntryAt(b, 0)) + 1, gtEntryAt(b, 0));
    expect(await refusal(b)).toBe('vmdk-grain-misaligned');
  });
  it('a compressed grain whose marker names another place', async () => {
    const b = vmdk('streamOptimized');
    b.writeUInt32LE(b.readUInt32LE(gtEntryAt(b, 0)), gtEntryAt(b, 1));
    expect(await refusal(b)).toBe('vmdk-grain-misplaced');
  });
  it('a compressed grain that inflates past its grain', async () => {
    const b = vmdk('streamOptimized');
    b.writeBigUInt64LE(8n, 20); // 4 KiB grains: the 64 KiB ones written no longer fit
    expect(await refusal(b)).toBe('vmdk-grain-too-large');
  });
  it('a compressed grain that is not deflate', async () => {
    const b = vmdk('streamOptimized');
    const at = b.readUInt32LE(gtEntryAt(b, 0)) * 512 + 12;
    b.fill(0xff, at, at + 16);
    expect(await refusal(b)).toBe('vmdk-grain-corrupt');
  });
});

describe('VHDX → qcow2, and hostile VHDXs refused', () => {
  let cached: Buffer | undefined;
  const vhdx = (): Buffer => {
    if (!cached) {
      const raw = sparseRaw('vhdx.raw', 100 * MiB, [
        [0, MiB, 0xab],
        [50 * MiB + 4096, 3 * MiB, 0x11],
        [99 * MiB, MiB, 5],
      ]);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, `${raw}.vhdx`]);
      cached = readFileSync(`${raw}.vhdx`);
    }
    return Buffer.from(cached);
  };
  it('a VHDX made by qemu-img converts to an identical guest', () => {
    const file = join(dir, 'made.vhdx');
    const fd = openSync(file, 'w');
    writeSync(fd, vhdx());
    closeSync(fd);
    const out = `${file}.qcow2`;
    const report = JSON.parse(
      execFileSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', file, out, '--json'], { encoding: 'utf8' }),
    );
    expect(report).toMatchObject({ format: 'vhdx', virtualBytes: 100 * MiB });
    expect(qemu(['check', out]).status).toBe(0);
    const compare = qemu(['compare', '-f', 'vhdx', '-F', 'qcow2', file, out]);
    expect(compare.status, compare.stdout + compare.stderr).toBe(0);
  });

  const refusal = (b: Buffer, limit = 2 ** 40) => readerVerdict(vhdxReader, b, limit);
  const KiB = 1024;
  // the BAT region's offset, from the first region table (entry 0 in qemu's files)
  const batAt = (b: Buffer) => Number(b.readBigUInt64LE(192 * KiB + 16 + 16));
  /** CRC-32C over a structure with its checksum field zeroed, written back (what a forger would do) */
  const reseal = async (b: Buffer, at: number, length: number) => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    b.writeUInt32LE(0, at + 4);
    let c = 0xffffffff;
    for (let i = at; i < at + length; i++) c = t[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
    b.writeUInt32LE((c ^ 0xffffffff) >>> 0, at + 4);
  };

  it('a clean one converts', async () => expect(await refusal(vhdx())).toBe('converted'));
  it('not a VHDX', async () => expect(await refusal(Buffer.alloc(2 * 1024 * KiB))).toBe('vhdx-bad-signature'));
  it('both headers damaged', async () => {
    const b = vhdx();
    b[64 * KiB + 20] = b[64 * KiB + 20]! ^ 1;
    b[128 * KiB + 20] = b[128 * KiB + 20]! ^ 1;
    expect(await refusal(b)).toBe('vhdx-bad-header');
  });
  it('a log not yet replayed', async () => {
    const b = vhdx();
    for (const at of [64 * KiB, 128 * KiB]) {
      b[at + 48] = 1;
      await reseal(b, at, 4 * KiB);
    }
    expect(await refusal(b)).toBe('vhdx-log-not-replayed');
  });
  it('a region outside the file', async () => {
    const b = vhdx();
    for (const at of [192 * KiB, 256 * KiB]) {
      b.writeBigUInt64LE(BigInt(b.length), at + 32);
      await reseal(b, at, 64 * KiB);
    }
    expect(await refusal(b)).toBe('vhdx-region-outside');
  });
  it('a virtual size over the limit', async () => expect(await refusal(vhdx(), MiB)).toBe('vhdx-bad-size'));
  it('a block pointing past the end of the file', async () => {
    const b = vhdx();
    b.writeBigUInt64LE((BigInt(b.length) << 20n) | 6n, batAt(b));
    expect(await refusal(b)).toBe('vhdx-block-outside');
  });
  it('two blocks in one place', async () => {
    const b = vhdx();
    // block 0 holds data; block 1 is made to point at the same place
    const first = b.readBigUInt64LE(batAt(b));
    b.writeBigUInt64LE(first, batAt(b) + 8);
    expect(await refusal(b)).toBe('vhdx-blocks-overlap');
  });
});
