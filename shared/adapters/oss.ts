import { redact } from '../core/redact';
import { clientFor, type OssClientLike, type OssTarget } from './oss-client';
import {
  OssCallError,
  withDeadline,
  type BucketVersioning,
  type DeadlinePolicy,
  type ObjectHead,
  type ListedObject,
  type ObjectStore,
  type ObjectVersion,
  type RawObjectStore,
} from './object-store';

export { OssCallError, type ObjectHead, type ObjectStore } from './object-store';
export { clientFor, keepDotSegments, ossClientOptions, type OssClientLike, type OssTarget } from './oss-client';

/** The only file that talks to OSS: the object operations over ali-oss. */

const isNotFound = (err: unknown): boolean => {
  const e = err as { code?: string; status?: number };
  return e?.code === 'NoSuchKey' || e?.status === 404;
};

export function toOssError(err: unknown, secrets: readonly (string | undefined)[]): OssCallError {
  if (err instanceof OssCallError) return err;
  const e = (err ?? {}) as { code?: unknown; status?: unknown; name?: unknown; message?: unknown };
  const status = typeof e.status === 'number' ? e.status : -1;
  const code = typeof e.code === 'string' && e.code ? e.code : typeof e.name === 'string' ? e.name : 'OssError';
  // Network failures (-1), timeouts (-2), 5xx and throttling are worth another try.
  // ali-oss checks some requests before sending (tags): no status, no request id, and no retry helps
  if (
    status < 0 &&
    !('requestId' in (err as object)) &&
    /^(tag|the key and value of the tag|maximum of 10 tags)/i.test(String(e.message))
  ) {
    return new OssCallError('InvalidTag', redact(String(e.message), secrets), -1, false);
  }
  const transient = status < 0 || status >= 500 || status === 429 || /Timeout|ECONNRESET|socket hang up/i.test(`${code} ${e.message}`);
  return new OssCallError(code, redact(String(e.message ?? err), secrets).split('\n')[0]!, status, transient);
}

const cleanEtag = (etag: unknown): string =>
  String(etag ?? '')
    .replace(/"/g, '')
    .toUpperCase();

const isFileAlreadyExists = (err: unknown): boolean => (err as { code?: string }).code === 'FileAlreadyExists';
const never = (): boolean => false;

function headOf(content: Buffer, h: Record<string, string>, bytes: number): ObjectHead {
  const range = /\/(\d+)$/.exec(h['content-range'] ?? '');
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('x-oss-meta-')) meta[k.slice(11)] = String(v);
  return {
    etag: cleanEtag(h.etag),
    size: range ? Number(range[1]) : content.length,
    meta,
    tagCount: Number(h['x-oss-tagging-count'] ?? 0),
    lastModified: h['last-modified'],
    // never keep more than asked for, whatever the server sent
    bytes: content.subarray(0, bytes),
  };
}

/** ali-oss, one call per operation, each bounded by the timeout it is given. */
export class AliOssStore implements RawObjectStore {
  readonly bucket: string;
  private readonly client: OssClientLike;
  private readonly secrets: (string | undefined)[];

  constructor(private readonly target: OssTarget) {
    this.bucket = target.bucket;
    this.client = clientFor(target);
    this.secrets = [target.credentials.accessKeySecret, target.credentials.securityToken];
  }

  /** An expected refusal (the object is missing, the key exists) is an answer, not an error. */
  private async answerOr<T, F>(fn: () => Promise<T>, expected: (err: unknown) => boolean, answer: F): Promise<T | F> {
    try {
      return await fn();
    } catch (err) {
      if (expected(err)) return answer;
      throw toOssError(err, this.secrets);
    }
  }

  readHead(key: string, bytes: number, timeout: number): Promise<ObjectHead | undefined> {
    const get = async () => {
      const r = await this.client.get(key, { headers: { Range: `bytes=0-${bytes - 1}` }, timeout });
      return headOf(r.content, r.res.headers, bytes);
    };
    return this.answerOr(get, isNotFound, undefined);
  }

  head(key: string, timeout: number): Promise<ObjectVersion | undefined> {
    const head = async () => {
      const h = (await this.client.head(key, { timeout })).res.headers;
      return { etag: cleanEtag(h.etag), size: Number(h['content-length'] ?? 0), tagCount: Number(h['x-oss-tagging-count'] ?? 0) };
    };
    return this.answerOr(head, isNotFound, undefined);
  }

  getTags(key: string, timeout: number): Promise<Record<string, string> | undefined> {
    return this.answerOr(async () => (await this.client.getObjectTagging(key, { timeout })).tag, isNotFound, undefined);
  }

  putTags(key: string, tags: Record<string, string>, timeout: number): Promise<boolean> {
    const put = async () => {
      await this.client.putObjectTagging(key, tags, { timeout });
      return true;
    };
    return this.answerOr(put, isNotFound, false);
  }

  /** A retried create may meet its own first attempt (a reply lost after the write): the caller tells its own body from another's. */
  createIfAbsent(key: string, body: string, timeout: number): Promise<boolean> {
    const create = async () => {
      await this.client.put(key, Buffer.from(body), {
        headers: { 'x-oss-forbid-overwrite': 'true', 'Content-Type': 'application/json' },
        timeout,
      });
      return true;
    };
    return this.answerOr(create, isFileAlreadyExists, false);
  }

  getText(key: string, timeout: number): Promise<string | undefined> {
    return this.answerOr(async () => (await this.client.get(key, { timeout })).content.toString('utf8'), isNotFound, undefined);
  }

  async putText(key: string, body: string, timeout: number): Promise<void> {
    await this.answerOr(
      () => this.client.put(key, Buffer.from(body), { headers: { 'Content-Type': 'application/json' }, timeout }),
      never,
      undefined,
    );
  }

  async deleteMany(keys: string[], timeout: number): Promise<void> {
    if (!keys.length) return;
    await this.answerOr(() => this.client.deleteMulti(keys, { quiet: true, timeout }), never, undefined);
  }

  async delete(key: string, timeout: number): Promise<void> {
    await this.answerOr(() => this.client.delete(key, { timeout }), never, undefined);
  }

  listPage(
    prefix: string,
    token: string | undefined,
    maxKeys: number | undefined,
    timeout: number,
    startAfter?: string,
  ): Promise<{ objects: ListedObject[]; nextToken?: string }> {
    const list = async () => {
      const r = await this.client.listV2(
        {
          prefix,
          'max-keys': maxKeys ?? 1000,
          ...(token ? { 'continuation-token': token } : {}),
          ...(startAfter ? { 'start-after': startAfter } : {}),
        },
        { timeout },
      );
      const objects = (r.objects ?? []).map((o) => ({
        key: o.name,
        size: o.size,
        lastModified: o.lastModified,
        etag: String(o.etag).replace(/"/g, ''),
      }));
      return { objects, nextToken: r.nextContinuationToken ?? undefined };
    };
    return this.answerOr(list, never, { objects: [] });
  }

  getVersioning(timeout: number): Promise<BucketVersioning> {
    const get = async () => {
      const status = (await this.client.getBucketVersioning(this.target.bucket, { timeout })).versionStatus;
      return status === 'Enabled' || status === 'Suspended' ? status : undefined;
    };
    return this.answerOr(get, never, undefined);
  }
}

/** The store the function, the tracker and the CLI use: ali-oss with the shared deadline policy. */
export function createObjectStore(t: OssTarget, policy: Partial<DeadlinePolicy> = {}): ObjectStore {
  return withDeadline(new AliOssStore(t), { deadline: Number.POSITIVE_INFINITY, ...policy });
}
