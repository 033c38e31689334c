import { OssError } from '../errors';
import type { OssAnswer, OssRequest, OssState } from '../request';
import type { Bucket, StoredObject } from '../store';

/** ListObjects (v1, marker paging) and ListObjectsV2 (continuation tokens). */

interface Page {
  contents: StoredObject[];
  prefixes: string[];
  truncated: boolean;
  last: string;
}

/** Keys after `after` under `prefix`, rolled up at `delimiter`, at most `maxKeys` entries. */
function collect(bucket: Bucket, prefix: string, delimiter: string, after: string, maxKeys: number): Page {
  const page: Page = { contents: [], prefixes: [], truncated: false, last: '' };
  for (const key of bucket.objects.keysUnder(prefix, after)) {
    const i = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const common = i >= 0 ? key.slice(0, i + delimiter.length) : undefined;
    if (common && page.prefixes.includes(common)) continue;
    if (page.contents.length + page.prefixes.length >= maxKeys) {
      page.truncated = true;
      break;
    }
    if (common) {
      page.prefixes.push(common);
      for (const k of bucket.objects.keysUnder(common, key)) page.last = k;
      if (page.last < key) page.last = key;
    } else {
      page.contents.push(bucket.objects.get(key)!);
      page.last = key;
    }
  }
  return page;
}

export function listObjects(state: OssState, bucket: Bucket, req: OssRequest, v2: boolean): OssAnswer {
  const q = req.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = q.get('max-keys') === null ? 100 : Number(q.get('max-keys'));
  if (!Number.isInteger(maxKeys) || maxKeys < 0 || maxKeys > 1000)
    throw new OssError(400, 'InvalidArgument', 'Argument max-keys must be an integer between 0 and 1000.');
  const token = q.get('continuation-token');
  let after = v2 ? (q.get('start-after') ?? '') : (q.get('marker') ?? '');
  if (v2 && token) after = Buffer.from(token, 'base64url').toString('utf8');
  const encodeUrl = q.get('encoding-type') === 'url';
  const enc = (s: string): string => (encodeUrl ? encodeURIComponent(s) : s);
  const page = collect(bucket, prefix, delimiter, after, maxKeys);
  const owner = { ID: state.accountId, DisplayName: state.accountId };
  const Contents = page.contents.map((o) => ({
    Key: enc(o.key),
    LastModified: o.lastModified.toISOString(),
    ETag: `"${o.etag}"`,
    Type: o.type,
    Size: o.size,
    StorageClass: 'Standard',
    Owner: v2 && q.get('fetch-owner') !== 'true' ? undefined : owner,
  }));
  const common = {
    Name: bucket.name,
    Prefix: enc(prefix),
    MaxKeys: maxKeys,
    Delimiter: enc(delimiter),
    EncodingType: encodeUrl ? 'url' : undefined,
    IsTruncated: page.truncated,
  };
  const CommonPrefixes = page.prefixes.map((p) => ({ Prefix: enc(p) }));
  const body = v2
    ? {
        ...common,
        StartAfter: q.get('start-after') ? enc(q.get('start-after')!) : undefined,
        ContinuationToken: token ?? undefined,
        NextContinuationToken: page.truncated ? Buffer.from(page.last).toString('base64url') : undefined,
        KeyCount: page.contents.length + page.prefixes.length,
        Contents,
        CommonPrefixes,
      }
    : { ...common, Marker: enc(after), NextMarker: page.truncated ? enc(page.last) : undefined, Contents, CommonPrefixes };
  return { status: 200, xml: { root: 'ListBucketResult', body } };
}
