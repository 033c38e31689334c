import type { InspectionLimits } from './qcow2';
import type { ImportImageRequest, ProvenancedValue } from './param-fields';
import { describeParams, deriveParams, toApiParams, type DerivedParams, type Problem } from './derive-params';
import { matchRule, type Rules } from './rules';

/**
 * What the importer will do with a key and its metadata, before any bytes are read:
 * skip it, refuse it (with every reason), or import it with these parameters.
 * The function and `ens-importer plan` both use this.
 */
export type ImportPlan =
  | { verdict: 'skip'; errorCode: string; reason: string; rule?: string }
  | {
      verdict: 'import' | 'reject';
      rule: string;
      derived: DerivedParams;
      params: ImportImageRequest;
      provenance: Record<string, ProvenancedValue>;
      problems: Problem[];
    };

/** `ens-import` in any case, spaces around ignored; anything else is refused, never ignored. */
function importMode(value: string | undefined): 'skip' | 'manifest' | 'unknown' | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  return v === 'skip' || v === 'manifest' ? v : 'unknown';
}

export function planImport(input: {
  bucket: string;
  region: string;
  key: string;
  meta: Record<string, string>;
  rules: Rules;
  rulesSource: string;
}): ImportPlan {
  const mode = importMode(input.meta['ens-import']);
  if (mode === 'skip') return { verdict: 'skip', errorCode: 'ens-import-skip', reason: 'metadata ens-import: skip' };
  if (mode === 'manifest')
    return {
      verdict: 'skip',
      errorCode: 'manifest-disk',
      reason: 'metadata ens-import: manifest (a disk of a multi-disk image; its manifest imports it)',
    };
  const rule = matchRule(input.rules, input.key);
  if (!rule) return { verdict: 'skip', errorCode: 'no-matching-rule', reason: `no rule in ${input.rulesSource} matches the key` };
  if (rule.skip) return { verdict: 'skip', errorCode: 'rule-skip', reason: `rule "${rule.name}" skips this key`, rule: rule.name };
  const derived = deriveParams({
    bucket: input.bucket,
    bucketRegion: input.region,
    key: input.key,
    meta: input.meta,
    rule,
    rules: input.rules,
  });
  if (mode === 'unknown') {
    const message = `x-oss-meta-ens-import is "${input.meta['ens-import']}"; allowed values: skip, manifest (any case); leave it out to import`;
    derived.problems.unshift({ code: 'InvalidParameter.Metadata', message });
  }
  return {
    verdict: derived.problems.length ? 'reject' : 'import',
    rule: rule.name,
    derived,
    params: toApiParams(derived),
    provenance: describeParams(derived),
    problems: derived.problems,
  };
}

const GiB = 1024n ** 3n;

/** The qcow2 limits the rules file sets. */
export const inspectionLimits = (rules: Rules): InspectionLimits => ({
  maxVirtualSizeBytes: BigInt(Math.floor(rules.limits.maxVirtualSizeGiB * 1024)) * (GiB / 1024n),
  allowedNewerFeatures: rules.limits.allowQcow2Features,
});
