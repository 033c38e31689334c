import { describe, expect, it } from 'vitest';
import { runChaos } from '../../scripts/chaos';

describe('chaos (small N; npm run chaos runs 1,000)', () => {
  it('keeps every invariant under OSS and ENS faults and duplicate deliveries', async () => {
    const report = await runChaos({ n: 120, seed: 11 });
    expect(report.valid).toBeGreaterThan(100);
    expect(Object.values(report.faultsFired).reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
    expect(report.duplicateDeliveries).toBeGreaterThan(0);
    expect({
      lost: report.lost,
      duplicateImportImageCalls: report.duplicateImportImageCalls,
      logLinesWithSecret: report.logLinesWithSecret,
      badMistagged: report.badMistagged,
      importedExactlyOnce: report.importedExactlyOnce,
    }).toEqual({ lost: 0, duplicateImportImageCalls: 0, logLinesWithSecret: 0, badMistagged: [], importedExactlyOnce: report.valid });
    expect(report.badTaggedWithRightReason).toBe(report.bad);
    expect(report.ok).toBe(true);
  }, 240_000);
});
