import type { ObjectHead, ObjectStore } from '../../shared/adapters/object-store';
import { isManifestKey } from '../../shared/core/manifest';
import { TAG_ERROR, TAG_IMAGE_ID, TAG_STATUS } from '../../shared/core/tags';
import { objectTarget } from '../../shared/import/targets';
import type { ImporterConfig } from '../../shared/runtime/config';
import { stateLayout } from '../../shared/state/layout';
import { parseRecord, type ImportRecord } from '../../shared/state/records';
import { parseConversion, type ConversionRecord } from '../../shared/state/conversion-record';
import { sourceOf } from '../../shared/core/conversion';
import { jobOfKey } from '../../shared/lifecycle/job-of';

/** Everything the importer knows about one object: read only, from OSS alone. */
export interface ObjectStory {
  bucket: string;
  key: string;
  exists: boolean;
  etag?: string;
  size?: number;
  lastModified?: string;
  meta?: Record<string, string>;
  tags?: Record<string, string>;
  /** the tags' word, or `not-imported` for an object the importer never finished */
  status: string;
  imageId?: string;
  error?: string;
  record?: ImportRecord;
  /** a source in another format: its conversion to qcow2 */
  conversion?: ConversionRecord;
  /** a converted qcow2: the upload it was made from */
  convertedFrom?: { key: string; etag: string };
  /** a converted source: its qcow2 (or manifest) and what the import made of it */
  output?: { key: string; status: string; imageId?: string; error?: string };
  /** what the pipeline would decide for these bytes now (rules, metadata, qcow2 header) */
  verdict?: {
    verdict: 'import' | 'reject' | 'skip';
    rule?: string;
    params?: object;
    inspection?: object;
    problems?: { code: string; message: string }[];
  };
}

export async function readObjectStory(store: ObjectStore, region: string, key: string, config: ImporterConfig): Promise<ObjectStory> {
  const head = await store.readHead(key, config.headerBytes);
  if (!head) return { bucket: store.bucket, key, exists: false, status: 'missing' };
  const tags = (await store.getTags(key)) ?? {};
  const claimKey = stateLayout(config.statePrefix).claimKey(store.bucket, key, head.etag);
  const record = parseRecord(await store.getText(claimKey));
  const conversion = parseConversion(await store.getText(stateLayout(config.statePrefix).conversionKey(store.bucket, key, head.etag)));
  const convertedFrom = sourceOf(head.meta);
  return {
    bucket: store.bucket,
    key,
    exists: true,
    etag: head.etag,
    size: head.size,
    lastModified: head.lastModified,
    meta: head.meta,
    tags,
    status: tags[TAG_STATUS] ?? record?.state ?? (tags[TAG_IMAGE_ID] ? 'importing' : 'not-imported'),
    imageId: tags[TAG_IMAGE_ID] ?? record?.imageId,
    error: tags[TAG_ERROR] ?? record?.errorCode,
    ...(record ? { record } : {}),
    ...(conversion ? { conversion } : {}),
    ...(convertedFrom ? { convertedFrom } : {}),
    // a manifest's verdict needs its disks (the record holds it once the function has run); a
    // converter's source is the converter's, whatever the import would say of its bytes
    ...(isManifestKey(key) || jobOfKey(key, record?.state) === 'conversion'
      ? {}
      : { verdict: verdictOf(region, store.bucket, key, head, config) }),
    ...(conversion?.state === 'converted' ? { output: await outputOf(store, conversion) } : {}),
  };
}

async function outputOf(store: ObjectStore, c: ConversionRecord): Promise<NonNullable<ObjectStory['output']>> {
  const outputs = c.outputs ?? [c.outputKey];
  const key = outputs.length > 1 ? c.outputKey.replace(/\.qcow2$/, '.ens-image.json') : c.outputKey;
  const tags = await store.getTags(key);
  if (!tags) return { key, status: 'missing' };
  return { key, status: tags[TAG_STATUS] ?? 'not-imported', imageId: tags[TAG_IMAGE_ID], error: tags[TAG_ERROR] };
}

export function verdictOf(region: string, bucket: string, key: string, head: ObjectHead, config: ImporterConfig): ObjectStory['verdict'] {
  const t = objectTarget({ region, bucket, key, head }, config);
  if (t.kind === 'skip') return { verdict: 'skip', problems: [{ code: t.errorCode, message: t.reason }] };
  if (t.kind === 'convert')
    return { verdict: 'skip', problems: [{ code: 'handed-to-converter', message: `a ${t.format} disk: the converter writes its qcow2` }] };
  if (t.kind === 'reject')
    return { verdict: 'reject', rule: t.details.rule, params: t.details.params, inspection: t.details.inspection, problems: t.problems };
  return { verdict: 'import', rule: t.details.rule, params: t.details.params, inspection: t.details.inspection, problems: [] };
}

/** The SLS query that finds every log line of one object (the fc3 component's `logConfig: auto` store). */
export function slsQueryFor(key: string): { logstore: string; query: string } {
  return { logstore: 'serverless-<region>-<hash> / default-logs', query: `* and message: "${key.replace(/"/g, '\\"')}"` };
}
