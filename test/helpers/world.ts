import { createHash } from 'node:crypto';
import { EnsCallError, type EnsApi, type SelfImage } from '../../shared/adapters/ens';
import { OssCallError, withDeadline, type ObjectStore, type RawObjectStore } from '../../shared/adapters/object-store';
import type { VirtualClock } from './virtual-clock';

/**
 * An in-memory OSS bucket and ENS account on a virtual clock, for the fault explorer. Every
 * remote call is numbered in the order it is made; a fault plan names the call numbers
 * that misbehave and how. OSS semantics follow the stand-in (forbid-overwrite, tags,
 * listing order); ENS images move Creating → Available after `importMinutes`.
 */

export type FaultKind = 'fail-once' | 'fail-until-deadline' | 'lost-answer' | 'slow' | 'crash-before' | 'crash-after';
export const FAULT_KINDS: FaultKind[] = ['fail-once', 'fail-until-deadline', 'lost-answer', 'slow', 'crash-before', 'crash-after'];

export interface StoredObject {
  body: Buffer;
  etag: string;
  meta: Record<string, string>;
  tags: Map<string, string>;
  lastModified: number;
}

export interface WorldImage {
  id: string;
  name: string;
  key: string;
  /** the ETag the object had when ImportImage was called (what the image was made from) */
  etag?: string;
  created: number;
  /** a slow request's image shows in listings only once ENS has made it */
  visibleFrom: number;
  fails: boolean;
  /** deleted in ENS (the console) at this time: gone from every answer after it */
  deletedAt?: number;
}

/** one invocation's view: its calls carry its identity, a crash silences it */
export interface Caller {
  id: string;
  deadline: number;
  crashed: boolean;
  failingUntil?: number;
}

export class World {
  readonly objects = new Map<string, StoredObject>();
  readonly images: WorldImage[] = [];
  calls = 0;
  readonly callLog: string[] = [];
  /** every write that landed: what changed, and where */
  readonly writes: { op: 'put' | 'tags' | 'delete'; key: string }[] = [];
  /** asynchronous invocations of the converter that FC accepted (a `.img` handed over) */
  readonly handOffs: { key: string; etag?: string }[] = [];
  importMinutes = 10;
  /** how long ENS takes to make one image, when a scenario makes some slower (a larger file) */
  importMinutesOf?: (image: WorldImage) => number;
  /** an account-wide listing (no ImageId, no ImageName) leaves these out: pages shifting between calls */
  hiddenFromListing = new Set<string>();
  /** image names whose import ENS fails (Pack_failed) */
  failingNames = new Set<string>();
  /** ENS answers every ImportImage with ServiceUnavailable until then (an outage) */
  ensDownUntil = 0;
  private imageSeq = 0;

  constructor(
    readonly clock: VirtualClock,
    readonly bucket: string,
    readonly faults: Map<number, FaultKind> = new Map(),
  ) {}

  /** an operator deletes the images of a key in the ENS console at `at` */
  deleteImagesOf(key: string, at: number): void {
    this.clock.at(at, () => {
      for (const i of this.images) if (i.key === key && i.deletedAt === undefined) i.deletedAt = this.clock.now();
    });
  }

  /** whether ENS still has the image */
  exists(image: WorldImage): boolean {
    return image.deletedAt === undefined || image.deletedAt > this.clock.now();
  }

  /** images made before the scenario starts (another team's, or older versions) */
  seedImages(name: string, count: number, key = 'elsewhere.qcow2'): void {
    for (let n = 0; n < count; n++) {
      const id = `m-old${(++this.imageSeq).toString(36)}`;
      const created = this.clock.now() - 30 * 86_400_000 + n;
      this.images.push({ id, name, key, created, visibleFrom: created, fails: false });
    }
  }

  put(key: string, body: Buffer, meta: Record<string, string> = {}): StoredObject {
    const etag = createHash('md5').update(body).digest('hex').toUpperCase();
    // OSS replaces the tags with what the upload sends: none
    const obj = { body, etag, meta, tags: new Map<string, string>(), lastModified: this.clock.now() };
    this.objects.set(key, obj);
    return obj;
  }

  statusOf(image: WorldImage): string {
    if (this.clock.now() - image.visibleFrom < (this.importMinutesOf?.(image) ?? this.importMinutes) * 60_000) return 'Creating';
    return image.fails ? 'Pack_failed' : 'Available';
  }

  /** One remote call: latency 1 ms, and whatever the fault plan says for its number. */
  async call<T>(caller: Caller, op: string, timeoutMs: number, effect: () => T, transientError: (answered: boolean) => Error): Promise<T> {
    if (caller.crashed) return new Promise<T>(() => undefined);
    const n = this.calls++;
    this.callLog.push(`${n} ${caller.id} ${op}`);
    let fault = this.faults.get(n);
    if (!fault && caller.failingUntil !== undefined && this.clock.now() < caller.failingUntil) fault = 'fail-once';
    switch (fault) {
      case 'crash-before':
        caller.crashed = true;
        return new Promise<T>(() => undefined);
      case 'crash-after':
        await this.clock.sleep(1);
        effect();
        caller.crashed = true;
        return new Promise<T>(() => undefined);
      case 'fail-until-deadline':
        caller.failingUntil = caller.deadline + 1;
        await this.clock.sleep(1);
        throw transientError(true);
      case 'fail-once':
        await this.clock.sleep(1);
        throw transientError(true);
      case 'lost-answer':
        await this.clock.sleep(1);
        effect();
        throw transientError(false);
      case 'slow':
        // the answer comes after the client gave up; the effect lands all the same
        this.clock.at(this.clock.now() + timeoutMs + 5, () => {
          try {
            effect();
          } catch {
            // the late answer was a refusal (an outage): nothing landed
          }
        });
        await this.clock.sleep(timeoutMs);
        throw transientError(false);
      default:
        await this.clock.sleep(1);
        return effect();
    }
  }

  store(caller: Caller, deadline: number): ObjectStore {
    const ossError = (answered: boolean) =>
      new OssCallError(
        answered ? 'InternalError' : 'RequestTimeout',
        answered ? 'We encountered an internal error' : 'timeout',
        answered ? 503 : -2,
        true,
      );
    const c = <T>(op: string, t: number, fn: () => T) => this.call(caller, op, t, fn, ossError);
    const objects = this.objects;
    const raw: RawObjectStore = {
      bucket: this.bucket,
      readHead: (key, bytes, t) =>
        c('GetObject', t, () => {
          const o = objects.get(key);
          return (
            o && {
              etag: o.etag,
              size: o.body.length,
              meta: { ...o.meta },
              tagCount: o.tags.size,
              lastModified: new Date(o.lastModified).toUTCString(),
              bytes: o.body.subarray(0, bytes),
            }
          );
        }),
      head: (key, t) =>
        c('HeadObject', t, () => {
          const o = objects.get(key);
          return o && { etag: o.etag, size: o.body.length, tagCount: o.tags.size };
        }),
      getTags: (key, t) =>
        c('GetObjectTagging', t, () => {
          const o = objects.get(key);
          return o && Object.fromEntries(o.tags);
        }),
      putTags: (key, tags, t) =>
        c('PutObjectTagging', t, () => {
          const o = objects.get(key);
          if (!o) return false;
          this.writes.push({ op: 'tags', key });
          o.tags = new Map(Object.entries(tags));
          return true;
        }),
      createIfAbsent: (key, body, t) =>
        c('PutObject', t, () => {
          if (objects.has(key)) return false;
          this.writes.push({ op: 'put', key });
          this.put(key, Buffer.from(body));
          return true;
        }),
      getText: (key, t) => c('GetObject', t, () => objects.get(key)?.body.toString('utf8')),
      putText: (key, body, t) =>
        c('PutObject', t, () => {
          this.writes.push({ op: 'put', key });
          this.put(key, Buffer.from(body));
        }),
      delete: (key, t) =>
        c('DeleteObject', t, () => {
          this.writes.push({ op: 'delete', key });
          objects.delete(key);
        }),
      listPage: (prefix, token, maxKeys = 1000, t, startAfter) =>
        c('ListObjectsV2', t, () => {
          const from = token ?? startAfter;
          const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && (!from || k > from)).sort();
          const page = keys.slice(0, maxKeys);
          return {
            objects: page.map((k) => ({
              key: k,
              size: objects.get(k)!.body.length,
              lastModified: new Date(objects.get(k)!.lastModified).toISOString(),
              etag: objects.get(k)!.etag,
            })),
            nextToken: keys.length > maxKeys ? page.at(-1) : undefined,
          };
        }),
      deleteMany: (keys, t) =>
        c('DeleteMultipleObjects', t, () => {
          for (const key of keys) {
            this.writes.push({ op: 'delete', key });
            objects.delete(key);
          }
        }),
      getVersioning: (t) => c('GetBucketVersioning', t, () => undefined),
    };
    return withDeadline(raw, { deadline, clock: this.clock });
  }

  ens(caller: Caller): EnsApi {
    const ensError = (answered: boolean) =>
      answered
        ? new EnsCallError('ServiceUnavailable', 'The request has failed due to a temporary failure of the server.', true, 'req')
        : new EnsCallError('RequestTimeout', 'timeout', true, undefined, false);
    return {
      importImage: (params, t) => {
        // what the image is made from: the object as it is when the request is sent
        const etagAtCall = this.objects.get(params.OSSObject ?? '')?.etag;
        // ENS stamps CreationTime when the request arrives, however late its answer
        const arrived = this.clock.now();
        return this.call(
          caller,
          'ImportImage',
          t,
          () => {
            if (this.clock.now() < this.ensDownUntil) throw ensError(true);
            const id = `m-${(++this.imageSeq).toString(36).padStart(6, '0')}`;
            const key = params.OSSObject ?? '';
            this.images.push({
              id,
              name: params.ImageName!,
              key,
              etag: etagAtCall,
              created: arrived,
              visibleFrom: this.clock.now(),
              fails: this.failingNames.has(params.ImageName!),
            });
            return { imageId: id, requestId: `ens-${id}` };
          },
          ensError,
        );
      },
      deleteImage: (imageId, t) =>
        this.call(
          caller,
          'DeleteImage',
          t,
          () => {
            const image = this.images.find((i) => i.id === imageId);
            if (!image || !this.exists(image)) return 'gone' as const;
            image.deletedAt = this.clock.now();
            return 'deleted' as const;
          },
          ensError,
        ),
      describeSelfImages: (q, t) =>
        this.call(
          caller,
          'DescribeSelfImages',
          t,
          () => {
            const size = q.PageSize ?? 10;
            const page = q.PageNumber ?? 1;
            const all = this.images
              .filter(
                (i) =>
                  i.visibleFrom <= this.clock.now() &&
                  this.exists(i) &&
                  (!q.ImageId || i.id.includes(q.ImageId)) &&
                  (!q.ImageName || i.name.includes(q.ImageName)),
              )
              .filter((i) => q.ImageId || q.ImageName || !this.hiddenFromListing.has(i.id))
              // oldest first: a new image is on the last page
              .sort((a, b) => a.created - b.created);
            const images: SelfImage[] = all.slice((page - 1) * size, page * size).map((i) => ({
              ImageId: i.id,
              ImageName: i.name,
              Status: this.statusOf(i),
              CreationTime: new Date(i.created).toISOString(),
            }));
            return { images, totalCount: all.length, requestId: 'req' };
          },
          ensError,
        ),
    };
  }
}
