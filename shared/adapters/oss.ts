import OSS from 'ali-oss';
import { redact } from '../redact';
import type { Credentials } from './ens';

/** The only file that talks to OSS: a few object operations over ali-oss. */

export interface HeadRead {
  etag: string;
  /** total object size */
  size: number;
  /** raw user metadata (lower-case names, values as received) */
  meta: Record<string, string>;
  tagCount: number;
  lastModified?: string;
  bytes: Buffer;
}

export class OssCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'OssCallError';
  }
}

export interface ObjectStore {
  bucket: string;
  /** One ranged GET of the first `bytes` bytes; undefined when the object does not exist. */
  readHead(key: string, bytes: number): Promise<HeadRead | undefined>;
  getTags(key: string): Promise<Record<string, string> | undefined>;
  /** false when the object is gone */
  putTags(key: string, tags: Record<string, string>): Promise<boolean>;
  /** Create-if-absent (x-oss-forbid-overwrite); false when the key exists. */
  createIfAbsent(key: string, body: string): Promise<boolean>;
  getText(key: string): Promise<string | undefined>;
  putText(key: string, body: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** One page of ListObjectsV2. */
  listPage(prefix: string, continuationToken?: string, maxKeys?: number): Promise<{ objects: { key: string; size: number; lastModified: string; etag: string }[]; nextToken?: string }>;
}

interface OssClientLike {
  get(name: string, options?: object): Promise<{ content: Buffer; res: { status: number; headers: Record<string, string> } }>;
  put(name: string, body: Buffer, options?: object): Promise<unknown>;
  delete(name: string, options?: object): Promise<unknown>;
  getObjectTagging(name: string, options?: object): Promise<{ tag: Record<string, string> }>;
  putObjectTagging(name: string, tag: Record<string, string>, options?: object): Promise<unknown>;
  listV2(query: object, options?: object): Promise<{ objects: { name: string; size: number; lastModified: string; etag: string }[]; nextContinuationToken: string | null }>;
}

const clients = new Map<string, OssClientLike>();

export interface OssTarget {
  region: string;
  bucket: string;
  /** e.g. the local stack's `http://127.0.0.1:9100`; unset: the region's internal endpoint */
  endpoint?: string;
  credentials: Credentials;
  timeoutMs?: number;
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
      timeout: t.timeoutMs ?? 30_000,
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
  const e = (err ?? {}) as { code?: unknown; status?: unknown; name?: unknown; message?: unknown };
  const status = typeof e.status === 'number' ? e.status : -1;
  const code = typeof e.code === 'string' && e.code ? e.code : typeof e.name === 'string' ? e.name : 'OssError';
  // Network failures (-1), timeouts (-2), 5xx and throttling are worth another try.
  const transient = status < 0 || status >= 500 || status === 429 || /Timeout|ECONNRESET|socket hang up/i.test(`${code} ${e.message}`);
  return new OssCallError(code, redact(String(e.message ?? err), secrets).split('\n')[0]!, status, transient);
}

/**
 * A few quick retries for a transient OSS failure (5xx, reset, timeout): every operation
 * here is idempotent or, for create-if-absent, made safe by the caller.
 */
async function withRetry<T>(fn: () => Promise<T>, secrets: readonly (string | undefined)[], attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = err instanceof OssCallError ? err : toOssError(err, secrets);
      if (!e.transient || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100 * 2 ** attempt)));
    }
  }
}

export function createObjectStore(t: OssTarget): ObjectStore {
  const client = clientFor(t);
  const secrets = [t.credentials.accessKeySecret, t.credentials.securityToken];
  const wrap = <T>(fn: () => Promise<T>): Promise<T> => withRetry(fn, secrets);
  /** An expected refusal (the object is missing, the key exists) is an answer, not an error. */
  const answerOr = <T, F>(fn: () => Promise<T>, expected: (err: unknown) => boolean, answer: F): Promise<T | F> =>
    wrap(async () => {
      try {
        return await fn();
      } catch (err) {
        if (expected(err)) return answer;
        throw toOssError(err, secrets);
      }
    });
  return {
    bucket: t.bucket,
    readHead: (key, bytes) =>
      answerOr(
        async () => {
          const r = await client.get(key, { headers: { Range: `bytes=0-${bytes - 1}` } });
          const h = r.res.headers;
          const range = /\/(\d+)$/.exec(h['content-range'] ?? '');
          const meta: Record<string, string> = {};
          for (const [k, v] of Object.entries(h)) if (k.startsWith('x-oss-meta-')) meta[k.slice(11)] = String(v);
          return {
            etag: String(h.etag ?? '').replace(/"/g, '').toUpperCase(),
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
    getTags: (key) => answerOr(async () => (await client.getObjectTagging(key)).tag, isNotFound, undefined),
    putTags: (key, tags) => answerOr(async () => (await client.putObjectTagging(key, tags), true), isNotFound, false),
    // A retried create may meet its own first attempt (a reply lost after the write):
    // the caller tells its own claim from another's by the body.
    createIfAbsent: (key, body) =>
      answerOr(
        async () => (await client.put(key, Buffer.from(body), { headers: { 'x-oss-forbid-overwrite': 'true', 'Content-Type': 'application/json' } }), true),
        (err) => (err as { code?: string }).code === 'FileAlreadyExists',
        false,
      ),
    getText: (key) => answerOr(async () => (await client.get(key)).content.toString('utf8'), isNotFound, undefined),
    putText: (key, body) => wrap(async () => void (await client.put(key, Buffer.from(body), { headers: { 'Content-Type': 'application/json' } }))),
    delete: (key) => wrap(async () => void (await client.delete(key))),
    listPage: (prefix, token, maxKeys = 1000) =>
      wrap(async () => {
        const r = await client.listV2({ prefix, 'max-keys': maxKeys, ...(token ? { 'continuation-token': token } : {}) });
        return {
          objects: (r.objects ?? []).map((o) => ({ key: o.name, size: o.size, lastModified: o.lastModified, etag: String(o.etag).replace(/"/g, '') })),
          nextToken: r.nextContinuationToken ?? undefined,
        };
      }),
  };
}
