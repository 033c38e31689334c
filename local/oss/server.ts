import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialStore } from '../credentials';
import { FaultInjector, sleep } from '../faults';
import { requestId, StandInServer } from '../http';
import { authenticate } from './auth';
import { ossAuthorization } from '../ram-policy';
import { OssError } from './errors';
import { notificationRecord, subscriptionMatches, type Subscription } from './events';
import { getVersioning, putVersioning, getPolicy, putPolicy, deletePolicy } from './operations/bucket';
import { listObjects } from './operations/listing';
import {
  abortMultipart,
  completeMultipart,
  initiateMultipart,
  listMultipartUploads,
  uploadPart,
  uploadPartCopy,
} from './operations/multipart';
import { copyObject, deleteObject, getObject, putObject, deleteMultiple } from './operations/objects';
import { deleteTagging, getTagging, putTagging } from './operations/tagging';
import type { OssAnswer, OssRequest, OssState } from './request';
import { routeRequest } from './router';
import { BodyStore, md5Hex, readRange, SortedObjects, type Bucket, type Segment, type StoredObject } from './store';
import { headerToText } from './validation';
import { toXml } from './xml';

export { OssError } from './errors';
export { headerToText, validateTags } from './validation';

/**
 * The OSS stand-in: HTTP in, HTTP out. Routing, authentication and each operation live in
 * files of their own; this class owns the state, the faults, the request log and the
 * notifications, and turns an operation's answer into a response.
 */

export interface OssOptions {
  credentials: CredentialStore;
  port?: number;
  dataDir?: string;
  buckets?: { name: string; region?: string }[];
  /** How the object key appears in event notifications (real OSS: uncertain). */
  eventKeyEncoding?: 'raw' | 'url';
  faultSeed?: number;
  /** accept V1 signatures, as an account and bucket created before the V4-only dates do (default: refuse) */
  allowV1Signatures?: boolean;
}

export interface OssRequestLogEntry {
  operation: string;
  bucket?: string;
  key?: string;
  /** a listing's prefix */
  prefix?: string;
  status: number;
  bytesSent: number;
  ms: number;
}

type Operation = (state: OssState, bucket: Bucket, req: OssRequest) => OssAnswer | Promise<OssAnswer>;

const OPERATIONS: Record<string, Operation> = {
  PutObject: putObject,
  GetObject: (_s, b, r) => getObject(b, r, false),
  HeadObject: (_s, b, r) => getObject(b, r, true),
  DeleteObject: deleteObject,
  CopyObject: copyObject,
  ListObjects: (s, b, r) => listObjects(s, b, r, false),
  ListObjectsV2: (s, b, r) => listObjects(s, b, r, true),
  PutObjectTagging: (_s, b, r) => putTagging(b, r),
  GetObjectTagging: (_s, b, r) => getTagging(b, r),
  DeleteObjectTagging: (_s, b, r) => deleteTagging(b, r),
  GetBucketVersioning: (_s, b) => getVersioning(b),
  PutBucketVersioning: (_s, b, r) => putVersioning(b, r),
  GetBucketPolicy: (_s, b) => getPolicy(b),
  PutBucketPolicy: (_s, b, r) => putPolicy(b, r),
  DeleteBucketPolicy: (_s, b) => deletePolicy(b),
  DeleteMultipleObjects: (s, b, r) => deleteMultiple(s, b, r),
  InitiateMultipartUpload: (_s, b, r) => initiateMultipart(b, r),
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipart,
  AbortMultipartUpload: abortMultipart,
  ListMultipartUploads: (_s, b, r) => listMultipartUploads(b, r),
};

export class OssStandIn extends StandInServer implements OssState {
  /** the stand-in's own state: the operations read it; tests use peekObject, objectKeys and the admin calls */
  readonly buckets = new Map<string, Bucket>();
  readonly faults: FaultInjector;
  readonly requestLog: OssRequestLogEntry[] = [];
  readonly bodies: BodyStore;
  private readonly subscriptions: Subscription[] = [];

  constructor(private readonly options: OssOptions) {
    super('OSS stand-in');
    this.bodies = new BodyStore(options.dataDir);
    this.faults = new FaultInjector(options.faultSeed ?? 7);
    for (const b of options.buckets ?? []) this.createBucket(b.name, b.region);
  }

  get accountId(): string {
    return this.options.credentials.accountId;
  }

  async start(): Promise<this> {
    await this.listenOn(this.options.port ?? 0);
    return this;
  }

  async stop(): Promise<void> {
    await this.close();
    for (const bucket of this.buckets.values()) {
      for (const o of bucket.objects.values()) this.bodies.release(o.segments);
      for (const u of bucket.uploads.values()) for (const p of u.parts.values()) this.bodies.release([p.segment]);
    }
  }

  createBucket(name: string, region = 'cn-beijing'): Bucket {
    const bucket: Bucket = { name, region, objects: new SortedObjects(), uploads: new Map() };
    this.buckets.set(name, bucket);
    return bucket;
  }

  /** Enable or suspend versioning, as an operator would with ossutil. */
  setVersioning(bucket: string, status: 'Enabled' | 'Suspended'): void {
    this.requireBucket(bucket).versioning = status;
  }

  /** Subscribe a trigger to this bucket's events, as an OSS trigger does. */
  subscribe(sub: Subscription): () => void {
    this.subscriptions.push(sub);
    return () => {
      const i = this.subscriptions.indexOf(sub);
      if (i >= 0) this.subscriptions.splice(i, 1);
    };
  }

  /** An object's whole body as UTF-8 text, read through the body store (memory or files). */
  readText(bucket: string, key: string): string | undefined {
    const obj = this.getObject(bucket, key);
    return obj ? this.bodies.readAll(obj.segments).toString('utf8') : undefined;
  }

  private getObject(bucket: string, key: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  /**
   * What OSS holds for an object, as a copy (tests, the demo and the bench read it; none may
   * change the stand-in's state except through its API). Like LocalStack's providers, the
   * stand-in's insides stay its own.
   */
  peekObject(bucket: string, key: string): ObjectSnapshot | undefined {
    const o = this.getObject(bucket, key);
    return o && snapshotOf(o);
  }

  /** The keys of a bucket under a prefix, in key order (what ListObjects would page through). */
  objectKeys(bucket: string, prefix = ''): string[] {
    return [...(this.buckets.get(bucket)?.objects.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort();
  }

  /** The multipart uploads begun and neither completed nor aborted. */
  openUploads(bucket: string): { uploadId: string; key: string; initiated: Date }[] {
    return [...(this.buckets.get(bucket)?.uploads.values() ?? [])].map((u) => ({
      uploadId: u.uploadId,
      key: u.key,
      initiated: u.initiated,
    }));
  }

  /** Whether a bucket holds the object (ENS's check that its import source exists). */
  hasObject(bucket: string, key: string, region?: string): boolean {
    const b = this.buckets.get(bucket);
    return !!b && (region === undefined || b.region === region) && b.objects.has(key);
  }

  /**
   * An object's tags as another tool wrote them (the console, ossutil): OSS keeps what its
   * rules allow, including values ali-oss itself will not send (an empty one).
   */
  setObjectTags(bucket: string, key: string, tags: Record<string, string>): void {
    const o = this.getObject(bucket, key);
    if (!o) throw new Error(`no object ${bucket}/${key}`);
    o.tags = new Map(Object.entries(tags));
  }

  /** Metadata replaced in place, as CopyObject onto itself with REPLACE does: same bytes, same ETag. */
  replaceObjectMeta(bucket: string, key: string, meta: Record<string, string>): void {
    const o = this.getObject(bucket, key);
    if (!o) throw new Error(`no object ${bucket}/${key}`);
    o.meta = { ...meta };
    o.lastModified = new Date();
  }

  /**
   * Put an object without going through HTTP: `header` followed by zeros up to `size`.
   * Used to stand a 1 TiB image behind a real qcow2 header. Fires no event unless asked.
   */
  seedObject(
    bucket: string,
    key: string,
    header: Buffer,
    size = header.length,
    meta: Record<string, string> = {},
    extra: { tags?: Record<string, string>; lastModified?: Date } = {},
  ): ObjectSnapshot {
    const b = this.requireBucket(bucket);
    const segments: Segment[] = [{ kind: 'buffer', data: header }];
    if (size > header.length) segments.push({ kind: 'zeros', length: size - header.length });
    const etag = md5Hex(Buffer.from(`${bucket}/${key}/${Date.now()}/${Math.random()}`));
    const obj: StoredObject = {
      key,
      segments,
      size,
      etag,
      lastModified: extra.lastModified ?? new Date(),
      contentType: 'application/octet-stream',
      meta,
      tags: new Map(Object.entries(extra.tags ?? {})),
      type: 'Normal',
    };
    b.objects.set(key, obj);
    return snapshotOf(obj);
  }

  /** Emit an ObjectCreated notification of any kind for an existing object (PostObject, …). */
  notify(kind: string, bucket: string, key: string): void {
    const obj = this.getObject(bucket, key);
    if (!obj) throw new Error(`no object ${bucket}/${key}`);
    this.emit(`ObjectCreated:${kind}`, this.requireBucket(bucket), obj, obj.size, requestId(), 'local');
  }

  requireBucket(name: string | undefined): Bucket {
    const b = name ? this.buckets.get(name) : undefined;
    if (!b) throw new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: name ?? '' });
    return b;
  }

  releaseUnreferenced(segments: Segment[]): void {
    // only a file segment may be shared (a copy refers to it): memory bodies need no scan of the bucket
    if (!segments.some((s) => s.kind === 'file')) {
      this.bodies.release(segments);
      return;
    }
    const inUse = new Set<string>();
    for (const b of this.buckets.values())
      for (const o of b.objects.values()) for (const s of o.segments) if (s.kind === 'file') inUse.add(s.path);
    this.bodies.release(segments.filter((s) => s.kind !== 'file' || !inUse.has(s.path)));
  }

  private emit(
    eventName: string,
    bucket: Bucket,
    obj: NonNullable<OssAnswer['event']>['object'],
    deltaSize: number,
    reqId: string,
    principalId: string,
  ): void {
    const matching = this.subscriptions.filter((s) => subscriptionMatches(s, bucket.name, eventName, obj.key));
    if (!matching.length) return;
    const record = notificationRecord({
      eventName,
      region: bucket.region,
      accountId: this.accountId,
      bucket: bucket.name,
      key: this.options.eventKeyEncoding === 'url' ? encodeURIComponent(obj.key).replace(/%2F/g, '/') : obj.key,
      size: obj.size,
      etag: obj.etag,
      deltaSize,
      userMeta: Object.fromEntries(Object.entries(obj.meta).map(([k, v]) => [k, headerToText(v)])),
      principalId,
      sourceIp: '127.0.0.1',
      requestId: reqId,
    });
    const payload = Buffer.from(JSON.stringify({ events: [record] }));
    for (const sub of matching) sub.deliver(payload);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://local');
    const request: OssRequest = {
      method: req.method ?? 'GET',
      headers: req.headers,
      query: url.searchParams,
      key: '',
      operation: 'Unknown',
      requestId: requestId(),
      body: req,
    };
    res.setHeader('x-oss-request-id', request.requestId);
    res.setHeader('Server', 'AliyunOSS');
    res.setHeader('Date', new Date().toUTCString());
    let bytesSent = 0;
    try {
      // OSS takes the path as sent: `a/../b` names the object `a/../b` (WHATWG URL parsing would resolve it)
      const rawPath = (req.url ?? '/').split('?')[0]!;
      Object.assign(request, routeRequest(request.method, req.headers, rawPath, url.searchParams));
      const fault = this.faults.decide(request.operation, request.key);
      if (fault.latencyMs) await sleep(fault.latencyMs);
      if (fault.drop) return void req.socket.destroy();
      if (fault.error) throw new OssError(fault.error.status, fault.error.code, fault.error.message);
      request.accessKeyId = authenticate(
        request,
        this.options.credentials,
        (name) => this.requireBucket(name).region,
        this.options.allowV1Signatures ?? false,
      );
      const { action, resource } = ossAuthorization(
        request.operation,
        this.options.credentials.accountId,
        request.bucketName ?? '',
        request.key,
      );
      request.authorizeKey = (a, key, bucket = request.bucketName) => {
        const r = `acs:oss:*:${this.options.credentials.accountId}:${bucket}/${key}`;
        if (!this.options.credentials.allows(request.accessKeyId!, a, r))
          throw new OssError(403, 'AccessDenied', `You are not allowed ${a} on ${r} by the RAM policy of this key.`);
      };
      // DeleteMultipleObjects is authorised key by key, in the operation
      // a listing's prefix is the condition key RAM policies confine it with
      const context = request.operation.startsWith('ListObjects') ? { 'oss:Prefix': url.searchParams.get('prefix') ?? '' } : {};
      if (request.operation !== 'DeleteMultipleObjects' && !this.options.credentials.allows(request.accessKeyId, action, resource, context))
        // the code is OSS's; the wording is ours
        throw new OssError(403, 'AccessDenied', `You are not allowed ${action} on ${resource} by the RAM policy of this key.`);
      const operation = OPERATIONS[request.operation];
      if (!operation)
        throw new OssError(
          400,
          'InvalidArgument',
          `Operation ${request.method} ${request.operation} is not supported by the local OSS stand-in.`,
        );
      const bucket = this.requireBucket(request.bucketName);
      const answer = await operation(this, bucket, request);
      bytesSent = await this.write(res, answer);
      for (const e of [...(answer.event ? [answer.event] : []), ...(answer.events ?? [])])
        this.emit(e.name, bucket, e.object, e.deltaSize, request.requestId, request.accessKeyId ?? '');
    } catch (err) {
      this.writeError(req, res, request, err);
    } finally {
      const log = (): void => {
        this.requestLog.push({
          operation: request.operation,
          bucket: request.bucketName,
          key: request.key || undefined,
          prefix: request.operation.startsWith('ListObjects') ? (request.query.get('prefix') ?? '') : undefined,
          status: res.statusCode,
          bytesSent,
          ms: Date.now() - started,
        });
      };
      if (res.writableFinished) log();
      else res.once('close', log);
    }
  }

  /** An answer as HTTP; the bytes of a GET are streamed from the body store. Returns the body bytes. */
  private async write(res: ServerResponse, answer: OssAnswer): Promise<number> {
    res.statusCode = answer.status;
    for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    if (answer.xml) {
      const text = Buffer.from(toXml(answer.xml.root, answer.xml.body as never));
      res.setHeader('Content-Type', 'application/xml');
      res.setHeader('Content-Length', String(text.length));
      res.end(text);
      return 0;
    }
    if (answer.json !== undefined) {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', String(Buffer.byteLength(answer.json)));
      res.end(answer.json);
      return 0;
    }
    if (!answer.content) {
      if (!res.hasHeader('Content-Length')) res.setHeader('Content-Length', '0');
      res.end();
      return 0;
    }
    const { segments, start, end } = answer.content;
    await new Promise<void>((resolve) => {
      const body = readRange(segments, start, end);
      body.on('error', () => res.destroy());
      res.on('close', () => {
        body.destroy();
        resolve();
      });
      body.pipe(res);
    });
    return end - start + 1;
  }

  private writeError(req: IncomingMessage, res: ServerResponse, request: OssRequest, err: unknown): void {
    const e = err instanceof OssError ? err : new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.');
    if (!(err instanceof OssError)) console.error('[local oss]', err);
    if (res.headersSent) return void res.destroy();
    const region = request.bucketName ? (this.buckets.get(request.bucketName)?.region ?? 'cn-beijing') : 'cn-beijing';
    const xml = toXml('Error', {
      Code: e.code,
      Message: e.message,
      RequestId: request.requestId,
      HostId: `${request.bucketName ?? ''}.oss-${region}.aliyuncs.com`,
      ...e.extra,
      EC: '0000-00000000',
    });
    res.statusCode = e.status;
    for (const h of res.getHeaderNames()) if (!['x-oss-request-id', 'server', 'date'].includes(h)) res.removeHeader(h);
    res.setHeader('Content-Type', 'application/xml');
    req.resume();
    if (req.method === 'HEAD') {
      res.setHeader('x-oss-err', Buffer.from(xml).toString('base64'));
      return void res.end();
    }
    const body = Buffer.from(xml);
    res.setHeader('Content-Length', String(body.length));
    res.end(body);
  }
}

/** A copy of what OSS holds for an object: its tags as a plain record, where its body lives. */
export interface ObjectSnapshot {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  contentType: string;
  meta: Record<string, string>;
  tags: Record<string, string>;
  type: 'Normal' | 'Multipart';
  /** where each piece of the body lives (a file-backed store keeps large bodies on disk) */
  storage: Segment['kind'][];
}

function snapshotOf(o: StoredObject): ObjectSnapshot {
  return {
    key: o.key,
    size: o.size,
    etag: o.etag,
    lastModified: new Date(o.lastModified),
    contentType: o.contentType,
    meta: { ...o.meta },
    tags: Object.fromEntries(o.tags),
    type: o.type,
    storage: o.segments.map((s) => s.kind),
  };
}
