import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeCode } from '../../shared/core/codes';
import { inspectQcow2 } from '../../shared/core/qcow2';
import { fixture } from '../helpers/fixtures';

/** Real qcow2 headers made by qemu-img, mutated: the inspector never throws and speaks only known codes. */

const limits = { maxVirtualSizeBytes: 2048n * 1024n ** 3n };

describe('property: qcow2 headers mutated from real ones', () => {
  const originals = ['v3.qcow2', 'v2.qcow2', 'backing-file.qcow2', 'data-file.qcow2', 'luks.qcow2'].map((f) =>
    fixture(f).subarray(0, 65536),
  );
  const mutation = fc.record({
    original: fc.nat({ max: originals.length - 1 }),
    flips: fc.array(fc.record({ at: fc.nat({ max: 511 }), value: fc.nat({ max: 255 }) }), { maxLength: 12 }),
    cut: fc.option(fc.nat({ max: 65536 }), { nil: undefined }),
    size: fc.option(fc.oneof(fc.nat(), fc.constant(1024 ** 4)), { nil: undefined }),
  });
  it('never throw, end in known codes, and pass only what is safe', () => {
    fc.assert(
      fc.property(mutation, ({ original, flips, cut, size }) => {
        const bytes = Buffer.from(originals[original]!);
        for (const f of flips) bytes[f.at] = f.value;
        const view = cut === undefined ? bytes : bytes.subarray(0, cut);
        const objectSize = size ?? view.length;
        const { report, refusals } = inspectQcow2(view, objectSize, limits);
        for (const r of refusals) expect(describeCode(r.code)?.outcome === 'rejected', r.code).toBe(true);
        if (refusals.length === 0) {
          expect(report.format).toBe('qcow2');
          expect([2, 3]).toContain(report.version);
          expect(report.backingFileOffset).toBe(0n);
          expect(report.cryptMethod).toBe(0);
          expect(report.incompatibleFeatures! & ~0b11001n).toBe(0n);
          expect(report.virtualSize! > 0n && report.virtualSize! <= limits.maxVirtualSizeBytes).toBe(true);
          expect(report.clusterBits! >= 9 && report.clusterBits! <= 21).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
