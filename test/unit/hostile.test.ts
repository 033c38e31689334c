import { describe, expect, it } from 'vitest';
import { planImport } from '../../shared/core/plan';
import { DEFAULT_RULES } from '../../shared/core/rules';

const plan = (meta: Record<string, string>) =>
  planImport({
    bucket: 'b',
    region: 'cn-beijing',
    key: 'images/ubuntu/22.04/web.qcow2',
    meta,
    rules: DEFAULT_RULES,
    rulesSource: 'built-in',
  });

describe('ens-import metadata', () => {
  it('reads skip and manifest in any case, with spaces around', () => {
    for (const v of ['skip', 'Skip', 'SKIP', ' skip '])
      expect(plan({ 'ens-import': v })).toMatchObject({ verdict: 'skip', errorCode: 'ens-import-skip' });
    for (const v of ['manifest', 'Manifest', 'MANIFEST'])
      expect(plan({ 'ens-import': v })).toMatchObject({ verdict: 'skip', errorCode: 'manifest-disk' });
  });

  it('refuses any other value, naming the allowed ones, instead of importing', () => {
    for (const v of ['no', 'false', 'skipp', '']) {
      const p = plan({ 'ens-import': v });
      expect(p.verdict, v).toBe('reject');
      if (p.verdict === 'reject') {
        expect(p.problems[0]).toMatchObject({ code: 'InvalidParameter.Metadata' });
        expect(p.problems[0]!.message).toMatch(/skip, manifest/);
      }
    }
  });
});
