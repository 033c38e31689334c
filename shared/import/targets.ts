import { conversionAdvice, formatOfKey, sniffDiskFormat, type DiskFormat } from '../core/disk-format';
import type { ObjectHead, ObjectStore } from '../adapters/object-store';
import type { ImporterConfig } from '../runtime/config';
import type { ImportImageRequest, ProvenancedValue } from '../core/param-fields';
import { planManifest } from '../core/manifest';
import { matchRule } from '../core/rules';
import { decodeUserMeta } from '../core/metadata';
import { inspectionLimits, planImport } from '../core/plan';
import { inspectQcow2, summarizeInspection, type InspectionSummary } from '../core/qcow2';
import type { StateLayout } from '../state/layout';
import { encodeWaiting } from '../state/records';

/** What one upload asks for: skip it, refuse it, or import an object or a manifest's disks. */

export interface Problem {
  code: string;
  message: string;
}

export interface TargetDetails {
  rule: string;
  params: Record<string, ProvenancedValue>;
  /** one object's inspection, or a manifest's disks' */
  inspection: InspectionSummary | { disks: Record<string, unknown>[] } | { format: DiskFormat } | Record<string, never>;
}

/** An object that gets the importer's tags; `ifUnowned`: only if no other import's result is on it. */
export interface TaggedObject {
  key: string;
  tagCount?: number;
  ifUnowned?: boolean;
}

export interface ImportTarget {
  kind: 'import';
  params: ImportImageRequest;
  details: TargetDetails;
  /** the objects that get the importer's tags */
  tagged: TaggedObject[];
  nameFixes: { original: string; fixed: string }[];
  disks?: string[];
}

export interface RejectTarget {
  kind: 'reject';
  problems: Problem[];
  details: TargetDetails;
  imageName?: string;
  tagged: TaggedObject[];
  disks?: string[];
}

export interface SkipTarget {
  kind: 'skip';
  errorCode: string;
  reason: string;
}

/** A disk in another format that the converter takes (a `.img` that is not qcow2). */
export interface ConvertTarget {
  kind: 'convert';
  format: string;
}

export type Target = ImportTarget | RejectTarget | SkipTarget | ConvertTarget;

const NO_DETAILS: TargetDetails = { rule: '', params: {}, inspection: {} };

export interface TargetInput {
  region: string;
  bucket: string;
  key: string;
  head: ObjectHead;
}

export function objectTarget(input: TargetInput, config: ImporterConfig): Target {
  const { head, key } = input;
  const tagged = [{ key, tagCount: head.tagCount }];
  const keyFormat = formatOfKey(key);
  const format = keyFormat === 'sniff' ? sniffDiskFormat(head.bytes) : keyFormat;
  if (keyFormat === 'sniff' && format !== 'qcow2' && config.converterFunction) return { kind: 'convert', format: format! };
  if (format && format !== 'qcow2') {
    const problems = [{ code: 'format-needs-conversion', message: conversionAdvice(format, key) }];
    return { kind: 'reject', problems, details: { ...NO_DETAILS, inspection: { format } }, tagged };
  }
  const plan = planImport({
    bucket: input.bucket,
    region: input.region,
    key,
    meta: decodeUserMeta(head.meta),
    rules: config.rules,
    rulesSource: config.rulesSource,
  });
  if (plan.verdict === 'skip') return { kind: 'skip', errorCode: plan.errorCode, reason: plan.reason };
  const inspection = inspectQcow2(head.bytes, head.size, inspectionLimits(config.rules));
  const details = { rule: plan.rule, params: plan.provenance, inspection: summarizeInspection(inspection) };
  const problems = [...inspection.refusals, ...plan.problems];
  if (problems.length) return { kind: 'reject', problems, details, imageName: plan.params.ImageName, tagged };
  return { kind: 'import', params: plan.params, details, tagged, nameFixes: plan.derived.nameFixes };
}

/** A multi-disk image: every disk read (header only), inspected, and sent in manifest order. */
export async function manifestTarget(
  input: TargetInput,
  config: ImporterConfig,
  store: ObjectStore,
  layout: StateLayout,
  now: number,
): Promise<Target> {
  const { head, key } = input;
  const reject = (code: string, message: string): RejectTarget => ({
    kind: 'reject',
    problems: [{ code, message }],
    details: NO_DETAILS,
    tagged: [{ key, tagCount: head.tagCount }],
  });
  if (head.size > head.bytes.length)
    return reject('manifest-invalid', `the manifest is ${head.size} bytes; at most ${config.headerBytes} are read`);
  const plan = planManifest({
    bucket: input.bucket,
    region: input.region,
    key,
    text: head.bytes.toString('utf8'),
    objectMeta: decodeUserMeta(head.meta),
    rules: config.rules,
    rulesSource: config.rulesSource,
  });
  if (plan.verdict === 'invalid') return reject('manifest-invalid', plan.reason);
  if (plan.verdict === 'skip') return { kind: 'skip', errorCode: plan.errorCode, reason: plan.reason };
  const { disks, params, provenance } = plan;
  const refused = disks.filter((d) => !diskAllowed(d, config, layout));
  if (refused.length) {
    const why = `the manifest may name only disks under ${config.watchedPrefix} that a rule of ${config.rulesSource} covers, never under ${layout.prefix}; refused: ${refused.join(', ')}`;
    return reject('manifest-disk-not-allowed', why);
  }

  const heads = await Promise.all(disks.map((d) => store.readHead(d, config.headerBytes)));
  const problems: Problem[] = [...plan.problems];
  const missing = disks.filter((_, i) => !heads[i]);
  if (missing.length) {
    const waiting = await waitForDisks(input, missing, config, store, layout, now);
    if (waiting) return waiting;
    problems.unshift({ code: 'manifest-missing-disk', message: `disk(s) never arrived: ${missing.join(', ')}` });
  }
  const inspections = disks.map((d, i) => {
    const h = heads[i];
    if (!h) return { key: d, missing: true };
    const inspection = inspectQcow2(h.bytes, h.size, inspectionLimits(config.rules));
    for (const r of inspection.refusals) problems.unshift({ code: r.code, message: `disk ${d}: ${r.message}` });
    return { key: d, ...summarizeInspection(inspection) };
  });
  const details = { rule: plan.rule, params: provenance, inspection: { disks: inspections } };
  // a refused manifest's verdict is its own; a disk that carries another import's result keeps it
  if (problems.length)
    return { kind: 'reject', problems, details, imageName: params.ImageName, tagged: [{ key, tagCount: head.tagCount }], disks };
  const tagged = [
    { key, tagCount: head.tagCount },
    ...disks.flatMap((d, i) => (heads[i] ? [{ key: d, tagCount: heads[i]!.tagCount, ifUnowned: true }] : [])),
  ];
  return { kind: 'import', params, details, tagged, nameFixes: plan.nameFixes, disks };
}

/** A disk a manifest may name: under the watched prefix, covered by a rule, not the importer's state. */
function diskAllowed(disk: string, config: ImporterConfig, layout: StateLayout): boolean {
  return disk.startsWith(config.watchedPrefix) && !layout.isStateKey(disk) && matchRule(config.rules, disk) !== undefined;
}

/** Disks not there yet: wait for them (a waiting entry per disk) until the manifest's wait is over. */
async function waitForDisks(
  input: TargetInput,
  missing: string[],
  config: ImporterConfig,
  store: ObjectStore,
  layout: StateLayout,
  now: number,
): Promise<SkipTarget | undefined> {
  const since = Date.parse(input.head.lastModified ?? '') || now;
  const deadline = since + config.manifestWaitMs;
  if (now >= deadline) return undefined;
  const entry = {
    manifestKey: input.key,
    bucket: input.bucket,
    region: input.region,
    missing,
    since: new Date(since).toISOString(),
    deadline: new Date(deadline).toISOString(),
  };
  if (!config.dryRun) for (const d of missing) await store.putText(layout.waitingKey(input.bucket, input.key, d), encodeWaiting(entry));
  return { kind: 'skip', errorCode: 'manifest-waiting', reason: `waiting until ${entry.deadline} for disk(s) ${missing.join(', ')}` };
}
