import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectQcow2, summarizeInspection } from '../../shared/core/qcow2';
import { FIXTURE_DIR, makeFixtures } from '../../scripts/make-fixtures';

const image = (name: string) => {
  makeFixtures();
  return readFileSync(join(FIXTURE_DIR, name));
};
const limits = { maxVirtualSizeBytes: 2n ** 40n, allowedNewerFeatures: [] as string[] };

describe('qcow2 features newer than v3 itself, and internal snapshots', () => {
  it('refuses zstd compression (qemu 5.1) with the remedy, unless the rules allow it', () => {
    const b = image('zstd.qcow2');
    const r = inspectQcow2(b, b.length, limits);
    expect(r.refusals[0]).toMatchObject({ code: 'qcow2-newer-features' });
    expect(r.refusals[0]!.message).toMatch(/compression_type=zlib/);
    expect(inspectQcow2(b, b.length, { ...limits, allowedNewerFeatures: ['compression-type'] }).refusals).toEqual([]);
  });

  it('refuses extended L2 entries (qemu 5.2) with the remedy', () => {
    const b = image('extended-l2.qcow2');
    const r = inspectQcow2(b, b.length, limits);
    expect(r.refusals[0]).toMatchObject({ code: 'qcow2-newer-features' });
    expect(r.refusals[0]!.message).toMatch(/extended_l2=off/);
  });

  it('imports an image with an internal snapshot, and counts it for a warning', () => {
    const b = image('snapshot.qcow2');
    const r = inspectQcow2(b, b.length, limits);
    expect(r.refusals).toEqual([]);
    expect(summarizeInspection(r)).toMatchObject({ snapshots: 1 });
  });
});
