import { createHash } from 'node:crypto';
import { readBody } from '../../http';
import { OssError } from '../errors';
import { resolveRange } from '../range';
import { requireObject, type OssAnswer, type OssRequest, type OssState } from '../request';
import { md5Hex, type Bucket, type StoredObject } from '../store';
import { taggingHeader, userMeta } from '../validation';

/** PutObject, GetObject/HeadObject, DeleteObject, CopyObject. */

/**
 * x-oss-forbid-overwrite has no effect on a bucket whose versioning is Enabled or
 * Suspended: the PUT writes a new version (documented with the SDKs' ForbidOverwrite).
 */
export function forbidOverwrite(req: OssRequest, bucket: Bucket, key: string): void {
  if (bucket.versioning) return;
  if (String(req.headers['x-oss-forbid-overwrite']).toLowerCase() === 'true' && bucket.objects.has(key)) {
    throw new OssError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.', { Key: key });
  }
}

/** The current version is replaced; a versioned bucket keeps it as a noncurrent version. */
function replaceCurrent(state: OssState, bucket: Bucket, obj: StoredObject, release: boolean): StoredObject | undefined {
  const previous = bucket.objects.get(obj.key);
  bucket.objects.set(obj.key, obj);
  if (previous && bucket.versioning) {
    bucket.noncurrent ??= [];
    bucket.noncurrent.push(previous);
  } else if (previous && release) state.releaseUnreferenced(previous.segments);
  return previous;
}

export async function putObject(state: OssState, bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const meta = userMeta(req.headers);
  const tags = taggingHeader(req.headers['x-oss-tagging']);
  forbidOverwrite(req, bucket, req.key);
  const written = await state.bodies.write(req.body);
  const expectedMd5 = req.headers['content-md5'];
  try {
    if (expectedMd5 && expectedMd5 !== written.md5.toString('base64'))
      throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
    // Checked again after the body: a concurrent create may have won meanwhile.
    forbidOverwrite(req, bucket, req.key);
  } catch (err) {
    state.bodies.release([written.segment]);
    throw err;
  }
  const contentType = (req.headers['content-type'] as string | undefined) ?? 'application/octet-stream';
  const obj: StoredObject = {
    key: req.key,
    segments: [written.segment],
    size: written.size,
    etag: md5Hex(written.md5),
    lastModified: new Date(),
    contentType,
    meta,
    tags,
    type: 'Normal',
  };
  const previous = replaceCurrent(state, bucket, obj, true);
  const headers: Record<string, string> = { ETag: `"${obj.etag}"` };
  if (bucket.versioning === 'Enabled')
    headers['x-oss-version-id'] = `CAEQ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  return { status: 200, headers, event: { name: 'ObjectCreated:PutObject', object: obj, deltaSize: obj.size - (previous?.size ?? 0) } };
}

export function objectHeaders(obj: StoredObject): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': obj.contentType,
    ETag: `"${obj.etag}"`,
    'Last-Modified': obj.lastModified.toUTCString(),
    'Accept-Ranges': 'bytes',
    'x-oss-object-type': obj.type,
    'x-oss-storage-class': 'Standard',
  };
  for (const [k, v] of Object.entries(obj.meta)) headers[`x-oss-meta-${k}`] = v;
  if (obj.tags.size) headers['x-oss-tagging-count'] = String(obj.tags.size);
  return headers;
}

export function getObject(bucket: Bucket, req: OssRequest, head: boolean): OssAnswer {
  const obj = requireObject(bucket, req.key);
  // OSS GetObject/HeadObject: If-Match names the ETag the reader expects; another version is 412
  const ifMatch = req.headers['if-match'];
  if (typeof ifMatch === 'string' && ifMatch.replace(/"/g, '').toUpperCase() !== obj.etag)
    throw new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', {
      Condition: 'If-Match',
    });
  const span = head
    ? { start: 0, end: obj.size - 1, partial: false }
    : resolveRange(req.headers.range, obj.size, req.headers['x-oss-range-behavior'] === 'standard');
  const length = obj.size === 0 ? 0 : span.end - span.start + 1;
  const headers: Record<string, string> = { ...objectHeaders(obj), 'Content-Length': String(length) };
  if (span.partial) headers['Content-Range'] = `bytes ${span.start}-${span.end}/${obj.size}`;
  const content = head || length === 0 ? undefined : { segments: obj.segments, start: span.start, end: span.end };
  return { status: span.partial ? 206 : 200, headers, content };
}

/** DeleteObject: 204 whether or not the key existed; a removal that happened fires ObjectRemoved:DeleteObject. */
export function deleteObject(state: OssState, bucket: Bucket, req: OssRequest, kind = 'DeleteObject'): OssAnswer {
  const obj = bucket.objects.get(req.key);
  if (!obj) return { status: 204 };
  bucket.objects.delete(req.key);
  state.bodies.release(obj.segments);
  return { status: 204, event: { name: `ObjectRemoved:${kind}`, object: obj, deltaSize: -obj.size } };
}

export async function copyObject(state: OssState, bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const m = /^\/?([^/]+)\/(.+)$/s.exec(String(req.headers['x-oss-copy-source']).split('?')[0]!);
  if (!m) throw new OssError(400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.');
  const src = requireObject(state.requireBucket(m[1]), decodeURIComponent(m[2]!));
  forbidOverwrite(req, bucket, req.key);
  const replaceMeta = String(req.headers['x-oss-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
  const replaceTags = String(req.headers['x-oss-tagging-directive'] ?? 'Copy').toLowerCase() === 'replace';
  await readBody(req.body);
  const obj: StoredObject = {
    ...src,
    key: req.key,
    lastModified: new Date(),
    meta: replaceMeta ? userMeta(req.headers) : { ...src.meta },
    contentType: replaceMeta ? ((req.headers['content-type'] as string | undefined) ?? src.contentType) : src.contentType,
    tags: replaceTags ? taggingHeader(req.headers['x-oss-tagging']) : new Map(src.tags),
    // Segments are shared with the source; only file bodies no object references are released.
    segments: src.segments.map((s) => ({ ...s })),
  };
  const previous = replaceCurrent(state, bucket, obj, bucket.objects.get(req.key) !== src);
  return {
    status: 200,
    xml: { root: 'CopyObjectResult', body: { ETag: `"${obj.etag}"`, LastModified: obj.lastModified.toISOString() } },
    event: { name: 'ObjectCreated:CopyObject', object: obj, deltaSize: obj.size - (previous?.size ?? 0) },
  };
}

const unescapeXml = (s: string): string =>
  s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);

/** DeleteMultipleObjects: up to 1,000 keys, Content-MD5 required, each key authorised alone. */
export async function deleteMultiple(state: OssState, bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const body = await readBody(req.body, 2 << 20);
  const md5 = req.headers['content-md5'];
  if (!md5) throw new OssError(400, 'MissingArgument', 'Missing Some Required Arguments.', { ArgumentName: 'Content-MD5' });
  if (md5 !== createHash('md5').update(body).digest('base64'))
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
  const xml = body.toString('utf8');
  const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => unescapeXml(m[1]!));
  if (!keys.length || keys.length > 1000)
    throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  for (const key of keys) req.authorizeKey?.('oss:DeleteObject', key);
  const events = keys.flatMap((key) => deleteObject(state, bucket, { ...req, key }, 'DeleteObjects').event ?? []);
  const quiet = /<Quiet>true<\/Quiet>/.test(xml);
  return { status: 200, xml: { root: 'DeleteResult', body: quiet ? {} : { Deleted: keys.map((Key) => ({ Key })) } }, events };
}
