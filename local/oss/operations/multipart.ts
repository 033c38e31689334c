import { readBody, requestId } from '../../http';
import { OssError } from '../errors';
import { requireObject, type OssAnswer, type OssRequest, type OssState } from '../request';
import { md5Hex, multipartEtag, readRange, type Bucket, type MultipartUpload, type Segment, type StoredObject } from '../store';
import { MIN_PART_SIZE, taggingHeader, userMeta } from '../validation';
import { parseXml } from '../xml';
import { forbidOverwrite } from './objects';

/** InitiateMultipartUpload, UploadPart, CompleteMultipartUpload (ETag `<md5 of part md5s>-<n>`), Abort. */

export function initiateMultipart(bucket: Bucket, req: OssRequest): OssAnswer {
  forbidOverwrite(req, bucket, req.key);
  const uploadId = requestId();
  const contentType = (req.headers['content-type'] as string | undefined) ?? 'application/octet-stream';
  const upload = {
    uploadId,
    key: req.key,
    initiated: new Date(),
    contentType,
    meta: userMeta(req.headers),
    tagging: req.headers['x-oss-tagging'] as string | undefined,
    parts: new Map(),
  };
  bucket.uploads.set(uploadId, upload);
  req.body.resume();
  return {
    status: 200,
    xml: { root: 'InitiateMultipartUploadResult', body: { Bucket: bucket.name, Key: req.key, UploadId: uploadId } },
    event: { name: 'ObjectCreated:InitiateMultipartUpload', object: { key: req.key, size: 0, etag: '', meta: {} }, deltaSize: 0 },
  };
}

function requireUpload(bucket: Bucket, req: OssRequest): MultipartUpload {
  const upload = bucket.uploads.get(req.query.get('uploadId') ?? '');
  if (!upload || upload.key !== req.key) {
    const message = 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.';
    throw new OssError(404, 'NoSuchUpload', message, { UploadId: req.query.get('uploadId') ?? '' });
  }
  return upload;
}

function partNumberOf(req: OssRequest): number {
  const partNumber = Number(req.query.get('partNumber'));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000)
    throw new OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive.');
  return partNumber;
}

/** A part stored under its number (one uploaded again replaces the old, whose body is released); its ETag. */
function keepPart(
  state: OssState,
  upload: MultipartUpload,
  partNumber: number,
  written: { segment: Segment; md5: Buffer; size: number },
): string {
  const old = upload.parts.get(partNumber);
  if (old) state.bodies.release([old.segment]);
  const etag = md5Hex(written.md5);
  upload.parts.set(partNumber, { segment: written.segment, etag, size: written.size });
  return etag;
}

export async function uploadPart(state: OssState, bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const upload = requireUpload(bucket, req);
  const partNumber = partNumberOf(req);
  const written = await state.bodies.write(req.body);
  const etag = keepPart(state, upload, partNumber, written);
  return {
    status: 200,
    headers: { ETag: `"${etag}"` },
    event: { name: 'ObjectCreated:UploadPart', object: { key: req.key, size: written.size, etag, meta: {} }, deltaSize: written.size },
  };
}

/** The largest part UploadPartCopy makes (OSS: parts are 100 KB to 5 GB). */
const MAX_PART_BYTES = 5 * 2 ** 30;

/**
 * UploadPartCopy: UploadPart with x-oss-copy-source (`/bucket/url-encoded key`, same region),
 * optionally x-oss-copy-source-range (`bytes=first-last`) and x-oss-copy-source-if-match (412
 * when the source's ETag differs). Reading the source needs oss:GetObject on it.
 */
export async function uploadPartCopy(state: OssState, bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const upload = requireUpload(bucket, req);
  const partNumber = partNumberOf(req);
  const m = /^\/?([^/]+)\/(.+)$/s.exec(String(req.headers['x-oss-copy-source']).split('?')[0]!);
  if (!m) throw new OssError(400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.');
  const from = state.requireBucket(m[1]);
  if (from.region !== bucket.region)
    throw new OssError(400, 'InvalidArgument', 'The source and the target bucket must be in the same region.');
  const sourceKey = decodeURIComponent(m[2]!);
  req.authorizeKey?.('oss:GetObject', sourceKey, from.name);
  const src = requireObject(from, sourceKey);
  const ifMatch = req.headers['x-oss-copy-source-if-match'];
  if (ifMatch !== undefined && String(ifMatch).replace(/"/g, '').toUpperCase() !== src.etag)
    throw new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', {
      Condition: 'x-oss-copy-source-if-match',
    });
  const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers['x-oss-copy-source-range'] ?? `bytes=0-${src.size - 1}`));
  const [first, last] = range ? [Number(range[1]), Number(range[2])] : [NaN, NaN];
  if (!(first <= last && last < src.size))
    throw new OssError(400, 'InvalidArgument', 'The x-oss-copy-source-range is not within the source object.');
  if (last - first + 1 > MAX_PART_BYTES)
    throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
  await readBody(req.body);
  const etag = keepPart(state, upload, partNumber, await state.bodies.write(readRange(src.segments, first, last)));
  return {
    status: 200,
    headers: { ETag: `"${etag}"` },
    xml: { root: 'CopyPartResult', body: { LastModified: new Date().toISOString(), ETag: `"${etag}"` } },
  };
}

/** The parts the request names, in ascending order, each matching its ETag and (but the last) the minimum size. */
function namedParts(upload: MultipartUpload, requested: { PartNumber?: string; ETag?: string }[]) {
  let previous = 0;
  return requested.map((p, i) => {
    const n = Number(p.PartNumber);
    if (n <= previous) throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
    previous = n;
    const stored = upload.parts.get(n);
    if (
      !stored ||
      stored.etag !==
        String(p.ETag ?? '')
          .replace(/"/g, '')
          .toUpperCase()
    ) {
      const message =
        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.";
      throw new OssError(400, 'InvalidPart', message, { PartNumber: String(n) });
    }
    if (i < requested.length - 1 && stored.size < MIN_PART_SIZE)
      throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.', {
        PartNumber: String(n),
      });
    return stored;
  });
}

export async function completeMultipart(state: OssState, bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const upload = requireUpload(bucket, req);
  const xml = (await readBody(req.body, 4 << 20)).toString('utf8');
  const requested = (parseXml(xml).CompleteMultipartUpload as { Part?: { PartNumber?: string; ETag?: string }[] } | undefined)?.Part ?? [];
  if (!requested.length)
    throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  const parts = namedParts(upload, requested);
  forbidOverwrite(req, bucket, req.key);
  const previous = bucket.objects.get(req.key);
  const obj: StoredObject = {
    key: req.key,
    segments: parts.map((p) => p.segment),
    size: parts.reduce((n, p) => n + p.size, 0),
    etag: multipartEtag(parts.map((p) => p.etag)),
    lastModified: new Date(),
    contentType: upload.contentType,
    meta: upload.meta,
    tags: taggingHeader(upload.tagging),
    type: 'Multipart',
  };
  for (const p of upload.parts.values()) if (!parts.includes(p)) state.bodies.release([p.segment]);
  bucket.uploads.delete(upload.uploadId);
  bucket.objects.set(req.key, obj);
  if (previous) state.releaseUnreferenced(previous.segments);
  const body = {
    Location: `http://${bucket.name}.oss-${bucket.region}.aliyuncs.com/${req.key}`,
    Bucket: bucket.name,
    Key: req.key,
    ETag: `"${obj.etag}"`,
  };
  return {
    status: 200,
    xml: { root: 'CompleteMultipartUploadResult', body },
    event: { name: 'ObjectCreated:CompleteMultipartUpload', object: obj, deltaSize: obj.size - (previous?.size ?? 0) },
  };
}

export function abortMultipart(state: OssState, bucket: Bucket, req: OssRequest): OssAnswer {
  const upload = requireUpload(bucket, req);
  for (const p of upload.parts.values()) state.bodies.release([p.segment]);
  bucket.uploads.delete(upload.uploadId);
  return { status: 204 };
}

/** ListMultipartUploads: the uploads begun and neither completed nor aborted, by key then initiation. */
export function listMultipartUploads(bucket: Bucket, req: OssRequest): OssAnswer {
  const prefix = req.query.get('prefix') ?? '';
  const max = Math.min(Number(req.query.get('max-uploads') ?? 1000) || 1000, 1000);
  const all = [...bucket.uploads.values()]
    .filter((u) => u.key.startsWith(prefix))
    .sort((a, b) => (a.key === b.key ? a.initiated.getTime() - b.initiated.getTime() : a.key < b.key ? -1 : 1));
  const page = all.slice(0, max);
  const body = {
    Bucket: bucket.name,
    Prefix: prefix,
    MaxUploads: String(max),
    IsTruncated: String(all.length > max),
    ...(all.length > max ? { NextKeyMarker: page.at(-1)!.key, NextUploadIdMarker: page.at(-1)!.uploadId } : {}),
    Upload: page.map((u) => ({ Key: u.key, UploadId: u.uploadId, Initiated: u.initiated.toISOString(), StorageClass: 'Standard' })),
  };
  return { status: 200, xml: { root: 'ListMultipartUploadsResult', body } };
}
