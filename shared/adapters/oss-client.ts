import { parse as legacyParse } from 'node:url';
import OSS from 'ali-oss';
import type { Credentials } from './ens';

/** The ali-oss clients the adapters share, one per target and key. */

export interface OssClientLike {
  deleteMulti(names: string[], options?: object): Promise<unknown>;
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
  /** e.g. the local stack's `http://127.0.0.1:9100`; unset: the region's endpoint */
  endpoint?: string;
  /**
   * Without an endpoint: the region's internal endpoint (`oss-<region>-internal`, which
   * resolves only inside Alibaba Cloud: the functions) or its public one (an operator's laptop).
   */
  internal?: boolean;
  credentials: Credentials;
}

/** ali-oss's options for a target: V4 signatures always; the public endpoint unless told otherwise. */
export function ossClientOptions(t: OssTarget): OSS.Options {
  return {
    region: `oss-${t.region}`,
    bucket: t.bucket,
    ...(t.endpoint ? { endpoint: t.endpoint } : { internal: t.internal ?? false, secure: true }),
    // OSS refuses V1 signatures for accounts created since 2025-03-01 and buckets since 2025-09-01
    authorizationV4: true,
    accessKeyId: t.credentials.accessKeyId,
    accessKeySecret: t.credentials.accessKeySecret,
    ...(t.credentials.securityToken
      ? // keys come fresh with each invocation; the interval only silences ali-oss's warning
        { stsToken: t.credentials.securityToken, refreshSTSTokenInterval: 3_600_000 }
      : {}),
    timeout: 30_000,
  } as OSS.Options;
}

/**
 * OSS keys may hold `.` and `..` segments (`images/a/../b.qcow2` is its own object), but
 * urllib 2.x, under ali-oss, reparses every request URL with WHATWG `new URL()`, which resolves
 * them: the request then names another path than the one ali-oss signed (SignatureDoesNotMatch,
 * blamed on the keys). Handing urllib the URL already parsed by the legacy parser, which leaves
 * the path as it is, sends the key as signed. Only URLs with such a segment take this path.
 */
const DOT_SEGMENT = /\/(\.|\.\.|%2e|%2e%2e|\.%2e|%2e\.)(\/|\?|$)/i;

export function keepDotSegments(client: unknown): void {
  const c = client as { urllib: { request: (url: unknown, params: unknown) => unknown } };
  const real = c.urllib;
  c.urllib = Object.assign(Object.create(real) as typeof real, {
    request: (url: unknown, params: unknown) =>
      real.request(typeof url === 'string' && DOT_SEGMENT.test(url) ? legacyParse(url) : url, params),
  });
}

export function clientFor(t: OssTarget): OssClientLike {
  const cacheKey = `${t.endpoint ?? ''}|${t.internal ?? ''}|${t.region}|${t.bucket}|${t.credentials.accessKeyId}|${t.credentials.securityToken ?? ''}`;
  let client = clients.get(cacheKey);
  if (!client) {
    if (clients.size > 16) clients.clear();
    client = new OSS(ossClientOptions(t)) as unknown as OssClientLike;
    keepDotSegments(client);
    clients.set(cacheKey, client);
  }
  return client;
}
