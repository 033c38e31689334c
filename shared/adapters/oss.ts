import OSS from 'ali-oss';
import { redact } from '../redact';
import type { Credentials } from './ens';
import { OssCallError, withDeadline, type DeadlinePolicy, type ObjectStore, type RawObjectStore } from './object-store';

export { OssCallError, type HeadRead, type ObjectStore } from './object-store';

/** The only file that talks to OSS: the object operations over ali-oss. */

interface OssClientLike {
  get(name: string, options?: object): Promise<{ content: Buffer; res: { status: number; headers: Record<string, string> } }>;
  head(name: string, options?: object): Promise<{ res: { status: number; headers: Record<string, string> } }>;
  put(name: string, body: Buffer, options?: object): Promise<unknown>;
  delete(name: string, options?: object): Promise<unknown>;
  getObjectTagging(name: string, options?: object): Promise<{ tag: Record<string, string> }>;
  putObjectTagging(name: string, tag: Record<string, string>, options?: object): Promise<unknown>;
  listV2(
    query: object,
    options?: object,
  ): Promise<{ objects: { name: string; size: number; lastModified: string; etag: string }[]; nextContinuationToken: string | null }>;
  getBucketVersioning(bucket: string, options?: object): Promise<{ versionStatus?: string }>;
}

const clients = new Map<string, OssClientLike>();

export interface OssTarget {
  region: string;
  bucket: string;
  /** e.g. the local stack's `http://127.0.0.1:9100`; unset: the region's internal endpoint */
  endpoint?: string;
  credentials: Credentials;
}

function clientFor(t: OssTarget): OssClientLike {
  const cacheKey = `${t.endpoint ?? ''}|${t.region}|${t.bucket}|${t.credentials.accessKeyId}|${t.credentials.securityToken ?? ''}`;
  let client = clients.get(cacheKey);
  if (!client) {
    if (clients.size > 16) clients.clear();
    client = new OSS({
      region: `oss-${t.region}`,
      bucket: t.bucket,
      ...(t.endpoint ? { endpoint: t.endpoint } : { internal: true, secure: true }),
      accessKeyId: t.credentials.accessKeyId,
      accessKeySecret: t.credentials.accessKeySecret,
      ...(t.credentials.securityToken
        ? // keys come fresh with each invocation; the interval only silences ali-oss's warning
          { stsToken: t.credentials.securityToken, refreshSTSTokenInterval: 3_600_000 }
        : {}),
      timeout: 30_000,
    } as OSS.Options) as unknown as OssClientLike;
    clients.set(cacheKey, client);
  }
  return client;
}

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
  const transient = status < 0 || status >= 500 || status === 429 || /Timeout|ECONNRESET|socket hang up/i.test(`${code} ${e.message}`);
  return new OssCallError(code, redact(String(e.message ?? err), secrets).split('\n')[0]!, status, transient);
}

const cleanEtag = (etag: unknown): string =>
  String(etag ?? '')
    .replace(/"/g, '')
    .toUpperCase();

/** ali-oss, one call per operation, each bounded by the timeout it is given. */
export function rawOssStore(t: OssTarget): RawObjectStore {
  const client = clientFor(t);
  const secrets = [t.credentials.accessKeySecret, t.credentials.securityToken];
  /** An expected refusal (the object is missing, the key exists) is an answer, not an error. */
  const answerOr = async <T, F>(fn: () => Promise<T>, expected: (err: unknown) => boolean, answer: F): Promise<T | F> => {
    try {
      return await fn();
    } catch (err) {
      if (expected(err)) return answer;
      throw toOssError(err, secrets);
    }
  };
  const never = (): boolean => false;
  return {
    bucket: t.bucket,
    readHead: (key, bytes, timeout) =>
      answerOr(
        async () => {
          const r = await client.get(key, { headers: { Range: `bytes=0-${bytes - 1}` }, timeout });
          const h = r.res.headers;
          const range = /\/(\d+)$/.exec(h['content-range'] ?? '');
          const meta: Record<string, string> = {};
          for (const [k, v] of Object.entries(h)) if (k.startsWith('x-oss-meta-')) meta[k.slice(11)] = String(v);
          return {
            etag: cleanEtag(h.etag),
            size: range ? Number(range[1]) : r.content.length,
            meta,
            tagCount: Number(h['x-oss-tagging-count'] ?? 0),
            lastModified: h['last-modified'],
            // never keep more than asked for, whatever the server sent
            bytes: r.content.subarray(0, bytes),
          };
        },
        isNotFound,
        undefined,
      ),
    head: (key, timeout) =>
      answerOr(
        async () => {
          const h = (await client.head(key, { timeout })).res.headers;
          return { etag: cleanEtag(h.etag), size: Number(h['content-length'] ?? 0), tagCount: Number(h['x-oss-tagging-count'] ?? 0) };
        },
        isNotFound,
        undefined,
      ),
    getTags: (key, timeout) => answerOr(async () => (await client.getObjectTagging(key, { timeout })).tag, isNotFound, undefined),
    putTags: (key, tags, timeout) =>
      answerOr(
        async () => {
          await client.putObjectTagging(key, tags, { timeout });
          return true;
        },
        isNotFound,
        false,
      ),
    // A retried create may meet its own first attempt (a reply lost after the write):
    // the caller tells its own claim from another's by the body.
    createIfAbsent: (key, body, timeout) =>
      answerOr(
        async () => {
          await client.put(key, Buffer.from(body), {
            headers: { 'x-oss-forbid-overwrite': 'true', 'Content-Type': 'application/json' },
            timeout,
          });
          return true;
        },
        (err) => (err as { code?: string }).code === 'FileAlreadyExists',
        false,
      ),
    getText: (key, timeout) => answerOr(async () => (await client.get(key, { timeout })).content.toString('utf8'), isNotFound, undefined),
    putText: (key, body, timeout) =>
      answerOr(
        async () => void (await client.put(key, Buffer.from(body), { headers: { 'Content-Type': 'application/json' }, timeout })),
        never,
        undefined,
      ),
    delete: (key, timeout) => answerOr(async () => void (await client.delete(key, { timeout })), never, undefined),
    listPage: (prefix, token, maxKeys = 1000, timeout) =>
      answerOr(
        async () => {
          const r = await client.listV2({ prefix, 'max-keys': maxKeys, ...(token ? { 'continuation-token': token } : {}) }, { timeout });
          return {
            objects: (r.objects ?? []).map((o) => ({
              key: o.name,
              size: o.size,
              lastModified: o.lastModified,
              etag: String(o.etag).replace(/"/g, ''),
            })),
            nextToken: r.nextContinuationToken ?? undefined,
          };
        },
        never,
        { objects: [] },
      ),
    getVersioning: (timeout) =>
      answerOr(
        async () => {
          const status = (await client.getBucketVersioning(t.bucket, { timeout })).versionStatus;
          return status === 'Enabled' || status === 'Suspended' ? status : undefined;
        },
        never,
        undefined,
      ),
  };
}

/** The store the function, the tracker and the CLI use: ali-oss with the shared deadline policy. */
export function createObjectStore(t: OssTarget, policy: Partial<DeadlinePolicy> = {}): ObjectStore {
  return withDeadline(rawOssStore(t), { deadline: Number.POSITIVE_INFINITY, ...policy });
}
