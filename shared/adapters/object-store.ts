import { isPermissionCode, OSS_RAM_ACTION } from '../core/permission';
import { realClock, type Clock } from '../core/clock';

/**
 * The object operations the importer needs, as an interface with no SDK behind it: the
 * OSS adapter implements the raw form over ali-oss, the fault explorer over memory, and
 * `withDeadline` adds the retry policy both share.
 */

export interface ObjectHead {
  etag: string;
  /** total object size */
  size: number;
  /** raw user metadata (lower-case names, values as received) */
  meta: Record<string, string>;
  tagCount: number;
  lastModified?: string;
  bytes: Buffer;
}

export interface ObjectVersion {
  etag: string;
  size: number;
  tagCount: number;
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified: string;
  etag: string;
}

export type BucketVersioning = 'Enabled' | 'Suspended' | undefined;

export class OssCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly transient: boolean,
    /** the RAM action a refusal (AccessDenied) was about */
    public action?: string,
  ) {
    super(message);
    this.name = 'OssCallError';
  }
}

export interface ObjectStore {
  bucket: string;
  /** One ranged GET of the first `bytes` bytes; undefined when the object does not exist. */
  readHead(key: string, bytes: number): Promise<ObjectHead | undefined>;
  /** HEAD: the current version's ETag and tag count; undefined when gone. */
  head(key: string): Promise<ObjectVersion | undefined>;
  getTags(key: string): Promise<Record<string, string> | undefined>;
  /** false when the object is gone */
  putTags(key: string, tags: Record<string, string>): Promise<boolean>;
  /** Create-if-absent (x-oss-forbid-overwrite); false when the key exists. */
  createIfAbsent(key: string, body: string): Promise<boolean>;
  getText(key: string): Promise<string | undefined>;
  putText(key: string, body: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** DeleteMultipleObjects: up to 1,000 keys in one request; keys already gone are fine. */
  deleteMany(keys: string[]): Promise<void>;
  /** One page of ListObjectsV2; `startAfter`: the keys after this one (a cursor kept between runs). */
  listPage(
    prefix: string,
    continuationToken?: string,
    maxKeys?: number,
    startAfter?: string,
  ): Promise<{ objects: ListedObject[]; nextToken?: string }>;
  /** GetBucketVersioning: a versioned bucket ignores x-oss-forbid-overwrite. */
  getVersioning(): Promise<BucketVersioning>;
}

/** The same operations, each told how long it may take (the last argument, ms). */
export interface RawObjectStore {
  bucket: string;
  readHead(key: string, bytes: number, timeoutMs: number): Promise<ObjectHead | undefined>;
  head(key: string, timeoutMs: number): Promise<ObjectVersion | undefined>;
  getTags(key: string, timeoutMs: number): Promise<Record<string, string> | undefined>;
  putTags(key: string, tags: Record<string, string>, timeoutMs: number): Promise<boolean>;
  createIfAbsent(key: string, body: string, timeoutMs: number): Promise<boolean>;
  getText(key: string, timeoutMs: number): Promise<string | undefined>;
  putText(key: string, body: string, timeoutMs: number): Promise<void>;
  delete(key: string, timeoutMs: number): Promise<void>;
  deleteMany(keys: string[], timeoutMs: number): Promise<void>;
  listPage(
    prefix: string,
    continuationToken: string | undefined,
    maxKeys: number | undefined,
    timeoutMs: number,
    startAfter?: string,
  ): Promise<{ objects: ListedObject[]; nextToken?: string }>;
  getVersioning(timeoutMs: number): Promise<BucketVersioning>;
}

export interface DeadlinePolicy {
  /** epoch ms by which every call must have returned (the invocation's deadline) */
  deadline: number;
  clock?: Clock;
  /** the longest wait for one answer */
  callTimeoutMs?: number;
  /** attempts per operation, at most */
  attempts?: number;
}

/** less time than this left: do not start a call that could not finish */
const MIN_CALL_MS = 50;

/**
 * One OSS operation under the policy: each attempt gets the time left before the deadline
 * (never more than one call's timeout), transient failures a few quick retries while time
 * remains. Shared by the object store and the converter's transfer.
 */
export function deadlineRunner(policy: DeadlinePolicy) {
  const clock = policy.clock ?? realClock;
  const callTimeoutMs = policy.callTimeoutMs ?? 30_000;
  const attempts = policy.attempts ?? 3;
  return async <T>(op: string, fn: (timeoutMs: number) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const left = policy.deadline - clock.now();
      if (left < MIN_CALL_MS) throw new OssCallError('DeadlineExceeded', `no time left for OSS ${op}`, -2, true);
      try {
        return await fn(Math.min(callTimeoutMs, left));
      } catch (err) {
        const e = err instanceof OssCallError ? err : new OssCallError('OssError', String((err as Error)?.message ?? err), -1, true);
        if (isPermissionCode(e.code)) e.action ??= OSS_RAM_ACTION[op];
        if (!e.transient || attempt >= attempts) throw e;
        const delay = Math.floor(clock.random() * 100 * 2 ** attempt);
        if (clock.now() + delay + MIN_CALL_MS >= policy.deadline) throw e;
        await clock.sleep(delay);
      }
    }
  };
}

/**
 * Every operation gets the time left before the deadline (never more than one call's
 * timeout) and a few quick retries of transient failures while time remains. All
 * operations are idempotent or, for create-if-absent, made safe by the caller.
 */
export function withDeadline(raw: RawObjectStore, policy: DeadlinePolicy): ObjectStore {
  const run = deadlineRunner(policy);
  return {
    bucket: raw.bucket,
    readHead: (key, bytes) => run('GetObject', (t) => raw.readHead(key, bytes, t)),
    head: (key) => run('HeadObject', (t) => raw.head(key, t)),
    getTags: (key) => run('GetObjectTagging', (t) => raw.getTags(key, t)),
    putTags: (key, tags) => run('PutObjectTagging', (t) => raw.putTags(key, tags, t)),
    createIfAbsent: (key, body) => run('PutObject', (t) => raw.createIfAbsent(key, body, t)),
    getText: (key) => run('GetObject', (t) => raw.getText(key, t)),
    putText: (key, body) => run('PutObject', (t) => raw.putText(key, body, t)),
    delete: (key) => run('DeleteObject', (t) => raw.delete(key, t)),
    deleteMany: (keys) => run('DeleteMultipleObjects', (t) => raw.deleteMany(keys, t)),
    listPage: (prefix, token, maxKeys, startAfter) => run('ListObjectsV2', (t) => raw.listPage(prefix, token, maxKeys, t, startAfter)),
    getVersioning: () => run('GetBucketVersioning', (t) => raw.getVersioning(t)),
  };
}

/** Every object under a prefix, page by page. */
export async function* listAll(
  store: ObjectStore,
  prefix: string,
  until = Number.POSITIVE_INFINITY,
  now: () => number = Date.now,
): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await store.listPage(prefix, token);
    yield* page.objects;
    token = page.nextToken;
  } while (token && now() < until);
}
