import { imageNameProblem, makeValidImageName } from './image-name';
import {
  API_NAME,
  BUILT_IN_DEFAULTS,
  META_KEY,
  PARAM_FIELDS,
  type ImportImageRequest,
  type ParamField,
  type ProvenancedValue,
} from './param-fields';
import type { CompiledRule, Rules } from './rules';

/** Why a set of parameters cannot be sent; `code` is what ENS itself would answer. */
export interface Problem {
  code: string;
  message: string;
}

export interface DeriveInput {
  bucket: string;
  bucketRegion: string;
  key: string;
  /** decoded user metadata, lower-case names */
  meta: Record<string, string>;
  rule: CompiledRule;
  rules: Rules;
}

export interface DerivedParams {
  values: Partial<Record<ParamField, ProvenancedValue>>;
  source: { OSSRegion: ProvenancedValue; OSSBucket: ProvenancedValue; OSSObject: ProvenancedValue };
  problems: Problem[];
  /** names taken from the key that had to be changed to be valid for ENS */
  nameFixes: { original: string; fixed: string }[];
}

export const TARGET_REGIONS = ['cn-beijing', 'ap-southeast-1'];
const KNOWN_META = new Set([...Object.values(META_KEY), 'ens-import']);

function checkValue(field: ParamField, value: string, rules: Rules): string | undefined {
  switch (field) {
    case 'imageName':
      return imageNameProblem(value);
    case 'platform':
      return rules.limits.platforms.includes(value) ? undefined : `must be one of ${rules.limits.platforms.join(', ')}`;
    case 'osType':
      if (value === 'windows') return 'only linux is supported by ENS today';
      return value === 'linux' ? undefined : 'must be linux';
    case 'architecture':
      return value === 'x86_64' ? undefined : 'must be x86_64';
    case 'computeType':
      return value === 'ens_vm' ? undefined : 'must be ens_vm';
    case 'targetRegion':
      return TARGET_REGIONS.includes(value) ? undefined : `must be one of ${TARGET_REGIONS.join(', ')}`;
    case 'osVersion':
    case 'licenseType':
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
      return value.length <= 128 && !/[\u0000-\u001f]/.test(value) ? undefined : 'must be at most 128 printable characters';
  }
}

/**
 * Decide each ImportImage parameter: metadata > naming convention > rule > defaults,
 * recording where each value came from. Explicit values are validated strictly and never
 * rewritten; an image name read from the key is made valid for ENS.
 */
export function deriveParams(input: DeriveInput): DerivedParams {
  const { rule, rules } = input;
  const values: DerivedParams['values'] = {};
  const problems: Problem[] = [];
  const nameFixes: DerivedParams['nameFixes'] = [];

  for (const name of Object.keys(input.meta)) {
    if (name.startsWith('ens-') && !KNOWN_META.has(name)) {
      problems.push({
        code: 'InvalidParameter.Metadata',
        message: `unknown metadata x-oss-meta-${name} (known: ${[...KNOWN_META].join(', ')})`,
      });
    }
  }

  const captured: Record<string, string | undefined> = rule.convention.groups(input.key) ?? {};
  if (!captured.imageName) {
    const base = input.key.split('/').pop() ?? input.key;
    captured.imageName = base.replace(/\.(qcow2|img)$/i, '');
  }

  for (const field of PARAM_FIELDS) {
    const chosen = chooseValue(field, input, captured[field], nameFixes);
    if (!chosen) continue;
    const problem = checkValue(field, chosen.value, rules);
    if (problem) {
      const from = chosen.source === 'metadata' ? ` (x-oss-meta-${META_KEY[field]})` : ` (from ${chosen.source})`;
      problems.push({ code: `InvalidParameter.${API_NAME[field]}`, message: `${API_NAME[field]} "${chosen.value}"${from} ${problem}` });
    }
    values[field] = chosen;
  }

  // ImageName is required; several SDKs require Platform and OSVersion too, so always send them.
  for (const field of ['imageName', 'platform', 'osVersion'] as const) {
    if (!values[field]) {
      problems.push({
        code: `MissingParameter.${API_NAME[field]}`,
        message: `no ${API_NAME[field]}: set x-oss-meta-${META_KEY[field]}, use a key matching the rule's convention, or give it in the rule`,
      });
    }
  }
  if (!rules.limits.allowedOssRegions.includes(input.bucketRegion)) {
    problems.push({
      code: 'InvalidParameter.OSSRegion',
      message: `bucket ${input.bucket} is in ${input.bucketRegion}; ImportImage reads only from ${rules.limits.allowedOssRegions.join(', ')}`,
    });
  }
  return {
    values,
    source: {
      OSSRegion: { value: input.bucketRegion, source: 'event' },
      OSSBucket: { value: input.bucket, source: 'event' },
      OSSObject: { value: input.key, source: 'event' },
    },
    problems,
    nameFixes,
  };
}

/** One parameter's value by precedence: metadata > convention > rule > defaults. */
function chooseValue(
  field: ParamField,
  input: DeriveInput,
  fromConvention: string | undefined,
  nameFixes: DerivedParams['nameFixes'],
): ProvenancedValue | undefined {
  const { rule, rules } = input;
  const fromMeta = input.meta[META_KEY[field]];
  if (fromMeta !== undefined && fromMeta !== '') return { value: fromMeta, source: 'metadata' };
  if (fromConvention) {
    if (field === 'imageName') {
      const fixed = makeValidImageName(fromConvention);
      if (fixed !== fromConvention) nameFixes.push({ original: fromConvention, fixed });
      return { value: fixed, source: 'convention', ...(fixed !== fromConvention ? { original: fromConvention } : {}) };
    }
    return { value: field === 'platform' ? fromConvention.toLowerCase() : fromConvention, source: 'convention' };
  }
  if (rule.set[field]) return { value: rule.set[field]!, source: 'rule' };
  if (rules.defaults[field]) return { value: rules.defaults[field]!, source: 'default' };
  if (BUILT_IN_DEFAULTS[field]) return { value: BUILT_IN_DEFAULTS[field]!, source: 'default' };
  return undefined;
}

/** The request parameters; absent optional values are left out (pop-core would send "undefined"). */
export function toApiParams(derived: DerivedParams): ImportImageRequest {
  const params: ImportImageRequest = { ImageFormat: 'qcow2' };
  for (const field of PARAM_FIELDS) {
    const v = derived.values[field];
    if (v) params[API_NAME[field]] = v.value;
  }
  params.OSSRegion = derived.source.OSSRegion.value;
  params.OSSBucket = derived.source.OSSBucket.value;
  params.OSSObject = derived.source.OSSObject.value;
  return params;
}

/** Parameters with provenance, in the form the import record and `plan` show. */
export function describeParams(derived: DerivedParams): Record<string, ProvenancedValue> {
  const out: Record<string, ProvenancedValue> = { ImageFormat: { value: 'qcow2', source: 'default' } };
  for (const field of PARAM_FIELDS) {
    const v = derived.values[field];
    if (v) out[API_NAME[field]] = v;
  }
  return { ...out, ...derived.source };
}
