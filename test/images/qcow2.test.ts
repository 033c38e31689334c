import { describe, expect, it } from 'vitest';
import { CHECKS, inspectQcow2, parseQcow2Header } from '../../shared/core/qcow2';
import { fixture } from '../helpers/fixtures';

const limits = { maxVirtualSizeBytes: 2048n * 1024n ** 3n };
const head = (name: string) => fixture(name).subarray(0, 64 * 1024);
const verdict = (bytes: Buffer, size = bytes.length) => inspectQcow2(bytes, size, limits).refusals.map((r) => r.code);

/** A v3 header made by qemu-img, to mutate field by field. */
const v3 = () => Buffer.from(head('v3.qcow2'));

describe('qcow2 inspection of qemu-img files', () => {
  it('reads a v3 header: version, virtual size, cluster size, no features', () => {
    const r = parseQcow2Header(head('v3.qcow2'), 196624);
    expect(r).toMatchObject({
      format: 'qcow2',
      version: 3,
      clusterBits: 16,
      clusterSize: 65536,
      virtualSize: 1024n ** 3n,
      cryptMethod: 0,
      incompatibleFeatures: 0n,
      backingFileOffset: 0n,
    });
    expect(r.headerLength).toBeGreaterThanOrEqual(104);
    expect(verdict(head('v3.qcow2'))).toEqual([]);
  });

  it('accepts a v2 (compat=0.10) header', () => {
    expect(parseQcow2Header(head('v2.qcow2')).version).toBe(2);
    expect(verdict(head('v2.qcow2'))).toEqual([]);
  });

  it.each([
    ['backing-file.qcow2', 'qcow2-backing-file'],
    ['data-file.qcow2', 'qcow2-data-file'],
    ['luks.qcow2', 'qcow2-encrypted'],
    ['raw-disk.qcow2', 'not-qcow2'],
    ['truncated.qcow2', 'qcow2-truncated'],
    ['huge.qcow2', 'qcow2-too-large'],
  ])('%s → %s', (file, code) => {
    const bytes = head(file);
    expect(verdict(bytes)[0]).toBe(code);
  });

  it('names the backing file and the external data file', () => {
    expect(parseQcow2Header(head('backing-file.qcow2')).backingFile).toBe('v3.qcow2');
    expect(parseQcow2Header(head('data-file.qcow2')).dataFile).toBe('external.raw');
  });

  it('refuses an empty object', () => {
    expect(verdict(Buffer.alloc(0), 0)).toEqual(['empty-object']);
  });
});

describe('qcow2 checks on mutated headers', () => {
  it('refuses versions other than 2 and 3', () => {
    for (const version of [0, 1, 4, 0xffffffff]) {
      const b = v3();
      b.writeUInt32BE(version, 4);
      expect(verdict(b)[0]).toBe('qcow2-unsupported-version');
    }
  });

  it('refuses cluster bits outside 9..21 and accepts the bounds', () => {
    for (const [bits, ok] of [
      [8, false],
      [9, true],
      [21, true],
      [22, false],
      [63, false],
    ] as const) {
      const b = v3();
      b.writeUInt32BE(bits, 20);
      // keep header_length within the (smaller) cluster
      if (bits === 9) b.writeUInt32BE(112, 100);
      const codes = verdict(b);
      if (ok) expect(codes).toEqual([]);
      else expect(codes).toContain('qcow2-bad-cluster-size');
    }
  });

  it('refuses a header length that is too short, unaligned or beyond the cluster', () => {
    for (const length of [96, 105, 65536 + 8]) {
      const b = v3();
      b.writeUInt32BE(length, 100);
      expect(verdict(b)).toContain('qcow2-bad-header-length');
    }
  });

  it('refuses each unsafe incompatible feature bit, and unknown bits', () => {
    const cases: [bigint, string | undefined][] = [
      [1n, undefined], // dirty: safe to read, qemu repairs refcounts
      [2n, 'qcow2-corrupt'],
      [4n, 'qcow2-data-file'],
      // newer than qcow2 v3 itself: ENS's qemu may not read them (the rules file can allow them)
      [8n, 'qcow2-newer-features'], // compression type
      [16n, 'qcow2-newer-features'], // extended L2
      [32n, 'qcow2-unknown-features'],
      [1n << 63n, 'qcow2-unknown-features'],
    ];
    for (const [bits, code] of cases) {
      const b = v3();
      b.writeBigUInt64BE(bits, 72);
      const codes = verdict(b);
      if (code) expect(codes).toContain(code);
      else expect(codes).toEqual([]);
    }
  });

  it('refuses encryption methods 1 (AES) and 2 (LUKS)', () => {
    for (const method of [1, 2]) {
      const b = v3();
      b.writeUInt32BE(method, 32);
      expect(verdict(b)).toContain('qcow2-encrypted');
    }
  });

  it('refuses a zero or oversized virtual size against the configured maximum', () => {
    const b = v3();
    b.writeBigUInt64BE(0n, 24);
    expect(verdict(b)).toContain('qcow2-zero-size');
    b.writeBigUInt64BE(limits.maxVirtualSizeBytes + 1n, 24);
    expect(verdict(b)).toContain('qcow2-too-large');
    b.writeBigUInt64BE(limits.maxVirtualSizeBytes, 24);
    expect(verdict(b)).toEqual([]);
  });

  it('refuses a second format signature in the bytes read (ISO 9660 at 0x8001)', () => {
    const b = v3();
    b.write('CD001', 0x8001, 'latin1');
    expect(verdict(b)).toContain('multiple-formats');
  });

  it('says what a non-qcow2 file looks like', () => {
    const vmdk = Buffer.alloc(1024);
    vmdk.write('KDMV', 0, 'latin1');
    const r = inspectQcow2(vmdk, 1024, limits);
    expect(r.refusals[0]).toMatchObject({ code: 'not-qcow2' });
    expect(r.refusals[0]!.message).toContain('vmdk');
  });

  it('treats every prefix of a valid header shorter than its length as truncated', () => {
    const full = v3();
    for (let n = 1; n < 104; n++) {
      const codes = verdict(full.subarray(0, n), 196624);
      expect(codes.length, `length ${n}`).toBe(1);
      expect(['not-qcow2', 'qcow2-truncated']).toContain(codes[0]);
    }
  });

  it('has a unique, stable name for each check', () => {
    const names = CHECKS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
