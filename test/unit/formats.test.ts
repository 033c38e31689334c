import { describe, expect, it } from 'vitest';
import {
  CONVERTIBLE_SUFFIXES,
  DISK_FORMATS,
  detectFormat,
  formatOfKey,
  SIGNATURE_BYTES,
  sniffDiskFormat,
} from '../../shared/core/disk-format';
import { LEADING_FORMATS } from '../../shared/core/qcow2-header';
import { convertibleFormat, detectSource } from '../../shared/formats/registry';
import type { RandomAccess } from '../../shared/formats/refusal';

/** One registry of disk formats: detection, suffixes and refusals read it everywhere. */

const at = (offset: number, text: string, size = 4096): Buffer => {
  const b = Buffer.alloc(size);
  b.write(text, offset, 'latin1');
  return b;
};
const source = (b: Buffer): RandomAccess => ({ size: b.length, read: async (o, l) => b.subarray(o, o + l) });

describe('the format registry', () => {
  it('has one entry per format, each with a spec, a refusal prefix and its suffixes', () => {
    expect(DISK_FORMATS.map((f) => f.format).sort()).toEqual(['ova', 'qcow2', 'raw', 'vhd', 'vhdx', 'vmdk']);
    for (const f of DISK_FORMATS) {
      expect(f.spec.length, f.format).toBeGreaterThan(5);
      expect(f.codePrefix).toBe(`${f.format}-`);
      expect(f.suffixes.length, f.format).toBeGreaterThan(0);
    }
    expect(DISK_FORMATS.filter((f) => f.importable).map((f) => f.format)).toEqual(['qcow2']);
    expect(CONVERTIBLE_SUFFIXES).toEqual({ '.vmdk': 'vmdk', '.vhdx': 'vhdx', '.vhd': 'vhd', '.ova': 'ova', '.raw': 'raw' });
    expect(SIGNATURE_BYTES).toBe(262);
  });

  it.each([
    ['qcow2', at(0, 'QFI\xfb')],
    ['vmdk', at(0, 'KDMV')],
    ['vmdk', at(0, '# Disk DescriptorFile')],
    ['vhdx', at(0, 'vhdxfile')],
    ['vhd', at(0, 'conectix')],
    ['ova', at(257, 'ustar')],
    ['raw', Buffer.alloc(4096)],
  ])('detects %s from its signature, the same in the import and the converter', async (format, bytes) => {
    expect(sniffDiskFormat(bytes)).toBe(format);
    expect(await detectSource('disk.img', source(bytes))).toBe(format);
  });

  it('finds a fixed VHD by its footer when the name says nothing, and trusts the bytes over the name', async () => {
    const fixed = Buffer.alloc(8192);
    fixed.write('conectix', 8192 - 512, 'latin1');
    expect(detectFormat(fixed)).toBe('raw');
    expect(await detectSource('build.img', source(fixed))).toBe('vhd');
    expect(await detectSource('cloud.raw', source(at(0, 'QFI\xfb')))).toBe('qcow2');
    expect(await detectSource('disk.vmdk', source(Buffer.alloc(4096)))).toBe('vmdk');
  });

  it('never wraps a qcow2 as a raw disk: it is refused with the reason', () => {
    expect(() => convertibleFormat('qcow2', 'cloud.img')).toThrow(expect.objectContaining({ code: 'convert-already-qcow2' }));
    expect(convertibleFormat('vhd', 'x.vhd')).toBe('vhd');
  });

  it('names formats by suffix, .img by its bytes', () => {
    expect(formatOfKey('a/b.QCOW2')).toBe('qcow2');
    expect(formatOfKey('a/b.img')).toBe('sniff');
    expect(formatOfKey('a/b.vhdx')).toBe('vhdx');
    expect(formatOfKey('a/b.iso')).toBeUndefined();
  });

  it("gives the qcow2 inspector the registry's other formats for its reason", () => {
    const names = new Set(LEADING_FORMATS.map((f) => f.name));
    for (const f of ['vmdk', 'vhdx', 'vhd']) expect(names).toContain(f);
  });
});
