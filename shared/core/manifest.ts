import * as z from 'zod/mini';
import { META_KEY, PARAM_FIELDS, type ImportImageRequest, type ParamField, type ProvenancedValue } from './param-fields';
import { planImport, type ImportPlan } from './plan';
import type { Rules } from './rules';

/**
 * A multi-disk image: `<name>.ens-image.json` lists its disks in order, system disk first,
 * and may carry any parameter metadata can.
 *
 *   { "disks": ["images/web/system.qcow2", "./data-1.qcow2"], "imageName": "web", "platform": "ubuntu", "osVersion": "22.04" }
 *
 * A disk key starting with `./` is relative to the manifest's folder.
 */

export const MANIFEST_SUFFIX = '.ens-image.json';
export const MAX_DISKS = 16;

const schema = z.strictObject({
  disks: z.array(z.string().check(z.minLength(1))).check(z.minLength(1), z.maxLength(MAX_DISKS)),
  /**
   * The upload the converter made this manifest from (an OVA): informational, and what makes a
   * corrected package's manifest a new version even when its layout is the same.
   */
  madeFrom: z.optional(z.strictObject({ key: z.string().check(z.maxLength(1024)), etag: z.string().check(z.maxLength(256)) })),
  ...(Object.fromEntries(PARAM_FIELDS.map((f) => [f, z.optional(z.string().check(z.minLength(1)))])) as Record<
    ParamField,
    z.ZodMiniOptional<z.ZodMiniString>
  >),
});

export interface Manifest {
  disks: string[];
  /** the manifest's parameters as metadata names (`ens-image-name`, …) */
  meta: Record<string, string>;
}

export const isManifestKey = (key: string): boolean => key.endsWith(MANIFEST_SUFFIX);

/** The key rules and the naming convention see for a manifest: `…/web.ens-image.json` → `…/web.qcow2`. */
export const manifestImageKey = (key: string): string => `${key.slice(0, -MANIFEST_SUFFIX.length)}.qcow2`;

export function parseManifest(text: string, manifestKey: string): { ok: true; manifest: Manifest } | { ok: false; reason: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `the manifest is not valid JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(doc);
  if (!parsed.success) {
    return {
      ok: false,
      reason: parsed.error.issues
        .map((i) =>
          i.code === 'unrecognized_keys'
            ? `unknown field(s) ${(i as { keys?: string[] }).keys?.join(', ')} (allowed: disks, madeFrom, ${PARAM_FIELDS.join(', ')})`
            : `${i.path.join('.') || 'manifest'}: ${i.message}`,
        )
        .join('; '),
    };
  }
  const dir = manifestKey.includes('/') ? manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1) : '';
  const disks = parsed.data.disks.map((d) => (d.startsWith('./') ? dir + d.slice(2) : d));
  const dupe = disks.find((d, i) => disks.indexOf(d) !== i);
  if (dupe) return { ok: false, reason: `disk ${dupe} is listed twice` };
  const self = disks.find((d) => isManifestKey(d));
  if (self) return { ok: false, reason: `disk ${self} is a manifest, not a disk image` };
  const meta: Record<string, string> = {};
  for (const f of PARAM_FIELDS) {
    const v = parsed.data[f];
    if (v !== undefined) meta[META_KEY[f]] = v;
  }
  return { ok: true, manifest: { disks, meta } };
}

export type ManifestPlan =
  | { verdict: 'invalid'; reason: string }
  | Extract<ImportPlan, { verdict: 'skip' }>
  | {
      verdict: 'import' | 'reject';
      rule: string;
      disks: string[];
      params: ImportImageRequest;
      provenance: Record<string, ProvenancedValue>;
      problems: { code: string; message: string }[];
      nameFixes: { original: string; fixed: string }[];
    };

/**
 * The ImportImage parameters for a manifest, before any disk is read: its own fields act as
 * metadata (over the manifest object's), and the disks go in DiskDeviceMapping, in order.
 */
export function planManifest(input: {
  bucket: string;
  region: string;
  key: string;
  text: string;
  objectMeta: Record<string, string>;
  rules: Rules;
  rulesSource: string;
}): ManifestPlan {
  const parsed = parseManifest(input.text, input.key);
  if (!parsed.ok) return { verdict: 'invalid', reason: parsed.reason };
  const { disks, meta } = parsed.manifest;
  const plan = planImport({
    bucket: input.bucket,
    region: input.region,
    key: manifestImageKey(input.key),
    meta: { ...input.objectMeta, ...meta },
    rules: input.rules,
    rulesSource: input.rulesSource,
  });
  if (plan.verdict === 'skip') return plan;
  const params: ImportImageRequest = { ...plan.params };
  delete params.OSSBucket;
  delete params.OSSObject;
  // ONE parameter holding a JSON string, as every official SDK sends it
  params.DiskDeviceMapping = JSON.stringify(disks.map((d) => ({ OSSRegion: input.region, OSSBucket: input.bucket, OSSObject: d })));
  const provenance: Record<string, ProvenancedValue> = {
    ...plan.provenance,
    DiskDeviceMapping: { value: params.DiskDeviceMapping, source: 'manifest' },
  };
  delete provenance.OSSBucket;
  delete provenance.OSSObject;
  return { verdict: plan.verdict, rule: plan.rule, disks, params, provenance, problems: plan.problems, nameFixes: plan.derived.nameFixes };
}
