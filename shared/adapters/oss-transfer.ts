import { Readable } from 'node:stream';
import { deadlineRunner, OssCallError, type DeadlinePolicy } from './object-store';
import { clientFor, toOssError, type OssTarget } from './oss';

/**
 * The converter's side of OSS: ranged reads of one version of the source (If-Match, so an
 * overwrite mid-way is noticed, never mixed in) and a multipart upload of the output. Each call
 * runs under the invocation's deadline policy, as the object store's do.
 */

export interface UploadedPart {
  number: number;
  etag: string;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated: string;
}

export interface ObjectTransfer {
  /** bytes [offset, offset + length) of the version with this ETag; PreconditionFailed when it is gone */
  readRange(key: string, etag: string, offset: number, length: number): Promise<Buffer>;
  /** a new multipart upload; FileAlreadyExists when the key exists (x-oss-forbid-overwrite), unless `replace` */
  initiate(key: string, meta: Record<string, string>, replace?: boolean): Promise<string>;
  uploadPart(key: string, uploadId: string, part: number, body: Buffer): Promise<UploadedPart>;
  /** UploadPartCopy: bytes [offset, offset + length) of the object `from.key` as it is at ETag `from.etag` (PreconditionFailed otherwise) */
  copyPart(
    key: string,
    uploadId: string,
    part: number,
    from: { key: string; etag: string; offset: number; length: number },
  ): Promise<UploadedPart>;
  /** FileAlreadyExists when another writer created the key meanwhile */
  complete(key: string, uploadId: string, parts: UploadedPart[], replace?: boolean): Promise<void>;
  /** false when the upload is no longer there (completed or aborted already) */
  abort(key: string, uploadId: string): Promise<boolean>;
  /** the unfinished uploads to exactly this key (`under`: to any key under this prefix) */
  pendingUploads(key: string, under?: boolean): Promise<PendingUpload[]>;
}

interface MultipartClient {
  get(name: string, options?: object): Promise<{ content: Buffer }>;
  initMultipartUpload(name: string, options?: object): Promise<{ uploadId: string }>;
  _uploadPart(
    name: string,
    uploadId: string,
    partNo: number,
    data: { stream: Readable; size: number },
    options?: object,
  ): Promise<{ etag: string }>;
  uploadPartCopy(
    name: string,
    uploadId: string,
    partNo: number,
    range: string,
    source: { sourceKey: string; sourceBucketName: string },
    options?: object,
  ): Promise<{ etag: string }>;
  completeMultipartUpload(name: string, uploadId: string, parts: UploadedPart[], options?: object): Promise<unknown>;
  abortMultipartUpload(name: string, uploadId: string, options?: object): Promise<unknown>;
  listUploads(query: object, options?: object): Promise<{ uploads: { name: string; uploadId: string; initiated: string }[] }>;
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string })?.code;

export function createObjectTransfer(target: OssTarget, policy: DeadlinePolicy): ObjectTransfer {
  const client = clientFor(target) as unknown as MultipartClient;
  const secrets = [target.credentials.accessKeySecret, target.credentials.securityToken];
  const run = deadlineRunner(policy);
  const call = <T>(op: string, fn: (timeout: number) => Promise<T>) =>
    run(op, async (timeout) => {
      try {
        return await fn(timeout);
      } catch (err) {
        throw toOssError(err, secrets);
      }
    });
  const forbid = { 'x-oss-forbid-overwrite': 'true' };
  return {
    readRange: (key, etag, offset, length) =>
      call('GetObject', async (timeout) => {
        const headers = { Range: `bytes=${offset}-${offset + length - 1}`, 'If-Match': `"${etag}"` };
        return (await client.get(key, { headers, timeout })).content;
      }),
    initiate: (key, meta, replace = false) =>
      call(
        'InitiateMultipartUpload',
        async (timeout) => (await client.initMultipartUpload(key, { headers: replace ? {} : forbid, meta, timeout })).uploadId,
      ),
    uploadPart: (key, uploadId, part, body) =>
      call('UploadPart', async (timeout) => {
        const r = await client._uploadPart(key, uploadId, part, { stream: Readable.from([body]), size: body.length }, { timeout });
        return { number: part, etag: r.etag };
      }),
    copyPart: (key, uploadId, part, from) =>
      call('UploadPartCopy', async (timeout) => {
        const range = `${from.offset}-${from.offset + from.length - 1}`;
        const source = { sourceKey: from.key, sourceBucketName: target.bucket };
        const headers = { 'x-oss-copy-source-if-match': `"${from.etag}"` };
        const r = await client.uploadPartCopy(key, uploadId, part, range, source, { headers, timeout });
        return { number: part, etag: r.etag };
      }),
    complete: (key, uploadId, parts, replace = false) =>
      call('CompleteMultipartUpload', async (timeout) => {
        await client.completeMultipartUpload(key, uploadId, parts, { headers: replace ? {} : forbid, timeout });
      }),
    abort: (key, uploadId) =>
      call('AbortMultipartUpload', async (timeout) => {
        try {
          await client.abortMultipartUpload(key, uploadId, { timeout });
          return true;
        } catch (err) {
          if (codeOf(err) === 'NoSuchUpload') return false;
          throw err;
        }
      }),
    pendingUploads: (key, under = false) =>
      call('ListMultipartUploads', async (timeout) => {
        const r = await client.listUploads({ prefix: key, 'max-uploads': 1000 }, { timeout });
        return r.uploads.filter((u) => under || u.name === key).map((u) => ({ key: u.name, uploadId: u.uploadId, initiated: u.initiated }));
      }),
  };
}

export { OssCallError };
