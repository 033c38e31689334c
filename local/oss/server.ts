import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialStore } from '../credentials';
import { FaultInjector, sleep } from '../faults';
import { listen, readBody, requestId, type StartedServer } from '../http';
import { notificationRecord, subscriptionMatches, type Subscription } from './events';
import { parseAuthorization, verifySignature, type SignedRequest } from './signature';
import { BodyStore, md5Hex, multipartEtag, readRange, type Bucket, type Segment, type StoredObject } from './store';
import { parseXml, toXml } from './xml';

export interface OssOptions {
  credentials: CredentialStore;
  port?: number;
  dataDir?: string;
  buckets?: { name: string; region?: string }[];
  /** How the object key appears in event notifications (real OSS: uncertain). */
  eventKeyEncoding?: 'raw' | 'url';
  faultSeed?: number;
}

export interface OssRequestLogEntry {
  operation: string;
  bucket?: string;
  key?: string;
  status: number;
  bytesSent: number;
  ms: number;
}

export class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const MIN_PART_SIZE = 100 * 1024;
const TAG_CHARS = /^[\p{L}\p{N} +\-=._:/]*$/u;

/** Parse `a=b&c=d` (x-oss-tagging) and apply OSS's tag limits. */
export function validateTags(tags: [string, string][]): Map<string, string> {
  if (tags.length > 10) throw new OssError(400, 'InvalidTag', 'Object tags cannot be greater than 10');
  const out = new Map<string, string>();
  for (const [k, v] of tags) {
    if (k.length < 1 || k.length > 128 || !TAG_CHARS.test(k)) {
      throw new OssError(400, 'InvalidTag', `The tag key "${k}" is invalid`);
    }
    if (v.length > 256 || !TAG_CHARS.test(v)) throw new OssError(400, 'InvalidTag', `The tag value "${v}" is invalid`);
    if (out.has(k)) throw new OssError(400, 'InvalidTag', `Duplicate tag key "${k}"`);
    out.set(k, v);
  }
  return out;
}

/** Bytes received in a header reach Node as latin1; read them as UTF-8 where they are. */
export function headerToText(value: string): string {
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : value;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  bucketName?: string;
  key: string;
  query: URLSearchParams;
  hostRegion?: string;
  operation: string;
  accessKeyId?: string;
  bytesSent: number;
}

export class OssStandIn {
  readonly buckets = new Map<string, Bucket>();
  readonly faults: FaultInjector;
  readonly requestLog: OssRequestLogEntry[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly bodies: BodyStore;
  private server?: StartedServer;

  constructor(private readonly options: OssOptions) {
    this.bodies = new BodyStore(options.dataDir);
    this.faults = new FaultInjector(options.faultSeed ?? 7);
    for (const b of options.buckets ?? []) this.createBucket(b.name, b.region);
  }

  get endpoint(): string {
    if (!this.server) throw new Error('OSS stand-in not started');
    return this.server.endpoint;
  }

  async start(): Promise<this> {
    this.server = await listen((req, res) => void this.handle(req, res), this.options.port ?? 0);
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    for (const bucket of this.buckets.values()) {
      for (const o of bucket.objects.values()) this.bodies.release(o.segments);
      for (const u of bucket.uploads.values()) for (const p of u.parts.values()) this.bodies.release([p.segment]);
    }
  }

  createBucket(name: string, region = 'cn-beijing'): Bucket {
    const bucket: Bucket = { name, region, objects: new Map(), uploads: new Map() };
    this.buckets.set(name, bucket);
    return bucket;
  }

  /** Subscribe a trigger to this bucket's events, as an OSS trigger does. */
  subscribe(sub: Subscription): () => void {
    this.subscriptions.push(sub);
    return () => {
      const i = this.subscriptions.indexOf(sub);
      if (i >= 0) this.subscriptions.splice(i, 1);
    };
  }

  getObject(bucket: string, key: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  /**
   * Put an object without going through HTTP: `header` followed by zeros up to `size`.
   * Used to stand a 1 TiB image behind a real qcow2 header. Fires no event unless asked.
   */
  seedObject(bucket: string, key: string, header: Buffer, size = header.length, meta: Record<string, string> = {}): StoredObject {
    const b = this.requireBucket(bucket);
    const segments: Segment[] = [{ kind: 'buffer', data: header }];
    if (size > header.length) segments.push({ kind: 'zeros', length: size - header.length });
    const obj: StoredObject = {
      key,
      segments,
      size,
      etag: md5Hex(Buffer.from(`${bucket}/${key}/${Date.now()}/${Math.random()}`)),
      lastModified: new Date(),
      contentType: 'application/octet-stream',
      meta,
      tags: new Map(),
      type: 'Normal',
    };
    b.objects.set(key, obj);
    return obj;
  }

  /** Emit an ObjectCreated notification of any kind for an existing object (PostObject, …). */
  notify(kind: string, bucket: string, key: string): void {
    const obj = this.getObject(bucket, key);
    if (!obj) throw new Error(`no object ${bucket}/${key}`);
    this.emit(`ObjectCreated:${kind}`, this.requireBucket(bucket), obj, obj.size, requestId(), 'local');
  }

  private requireBucket(name: string | undefined): Bucket {
    const b = name ? this.buckets.get(name) : undefined;
    if (!b) throw new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: name ?? '' });
    return b;
  }

  private emit(
    eventName: string,
    bucket: Bucket,
    obj: { key: string; size: number; etag: string; meta: Record<string, string> },
    deltaSize: number,
    reqId: string,
    principalId: string,
  ): void {
    const matching = this.subscriptions.filter((s) => subscriptionMatches(s, bucket.name, eventName, obj.key));
    if (!matching.length) return;
    const userMeta = Object.fromEntries(Object.entries(obj.meta).map(([k, v]) => [k, headerToText(v)]));
    const record = notificationRecord({
      eventName,
      region: bucket.region,
      accountId: this.options.credentials.accountId,
      bucket: bucket.name,
      key: this.options.eventKeyEncoding === 'url' ? encodeURIComponent(obj.key).replace(/%2F/g, '/') : obj.key,
      size: obj.size,
      etag: obj.etag,
      deltaSize,
      userMeta,
      principalId,
      sourceIp: '127.0.0.1',
      requestId: reqId,
    });
    const payload = Buffer.from(JSON.stringify({ events: [record] }));
    for (const sub of matching) sub.deliver(payload);
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://local');
    const ctx: Ctx = {
      req,
      res,
      requestId: requestId(),
      key: '',
      query: url.searchParams,
      operation: 'Unknown',
      bytesSent: 0,
    };
    res.setHeader('x-oss-request-id', ctx.requestId);
    res.setHeader('Server', 'AliyunOSS');
    res.setHeader('Date', new Date().toUTCString());
    try {
      this.route(ctx, url.pathname);
      const fault = this.faults.decide(ctx.operation);
      if (fault.latencyMs) await sleep(fault.latencyMs);
      if (fault.drop) {
        req.socket.destroy();
        return;
      }
      if (fault.error) throw new OssError(fault.error.status, fault.error.code, fault.error.message);
      this.authenticate(ctx);
      await this.dispatch(ctx);
    } catch (err) {
      this.sendError(ctx, err);
    } finally {
      const log = (): void => {
        this.requestLog.push({
          operation: ctx.operation,
          bucket: ctx.bucketName,
          key: ctx.key || undefined,
          status: res.statusCode,
          bytesSent: ctx.bytesSent,
          ms: Date.now() - started,
        });
      };
      if (res.writableFinished) log();
      else res.once('close', log);
    }
  }

  /** Bucket from the Host's first label (virtual host) or from the path (IP / localhost). */
  private route(ctx: Ctx, pathname: string): void {
    const host = (ctx.req.headers.host ?? '').replace(/:\d+$/, '');
    const pathStyle = host === 'localhost' || /^[\d.]+$/.test(host) || host.startsWith('[');
    let path = pathname;
    if (pathStyle) {
      const m = /^\/([^/]+)\/?(.*)$/s.exec(path);
      ctx.bucketName = m?.[1];
      path = m?.[2] ?? '';
    } else {
      const labels = host.split('.');
      ctx.bucketName = labels[0];
      const region = /^oss-([a-z0-9-]+?)(-internal)?$/.exec(labels[1] ?? '');
      ctx.hostRegion = region?.[1];
      path = path.replace(/^\//, '');
    }
    try {
      ctx.key = decodeURIComponent(path);
    } catch {
      throw new OssError(400, 'InvalidObjectName', 'The object name is not valid.');
    }
    const q = ctx.query;
    const m = ctx.req.method ?? 'GET';
    if (!ctx.key) {
      if (q.has('versioning')) ctx.operation = m === 'PUT' ? 'PutBucketVersioning' : 'GetBucketVersioning';
      else if (m === 'GET') ctx.operation = q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
      else ctx.operation = `${m}Bucket`;
      return;
    }
    if (q.has('tagging'))
      ctx.operation = { PUT: 'PutObjectTagging', GET: 'GetObjectTagging', DELETE: 'DeleteObjectTagging' }[m] ?? 'Unknown';
    else if (q.has('uploads') && m === 'POST') ctx.operation = 'InitiateMultipartUpload';
    else if (q.has('uploadId')) {
      ctx.operation =
        { PUT: 'UploadPart', POST: 'CompleteMultipartUpload', DELETE: 'AbortMultipartUpload', GET: 'ListParts' }[m] ?? 'Unknown';
    } else if (m === 'PUT') ctx.operation = ctx.req.headers['x-oss-copy-source'] ? 'CopyObject' : 'PutObject';
    else ctx.operation = { GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[m] ?? 'Unknown';
  }

  private authenticate(ctx: Ctx): void {
    const auth = parseAuthorization(ctx.req.headers.authorization);
    if (!auth) throw new OssError(403, 'AccessDenied', 'You have no right to access this object because of bucket acl.');
    const token = ctx.req.headers['x-oss-security-token'] as string | undefined;
    const check = this.options.credentials.check(auth.accessKeyId, token);
    if (!check.ok) {
      if (check.reason === 'unknown-key') {
        throw new OssError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.', {
          OSSAccessKeyId: auth.accessKeyId,
        });
      }
      throw new OssError(403, 'AccessDenied', 'The security token you provided is invalid.');
    }
    ctx.accessKeyId = auth.accessKeyId;
    const signed: SignedRequest = {
      method: ctx.req.method ?? 'GET',
      headers: ctx.req.headers,
      query: [...ctx.query.entries()],
      bucket: ctx.bucketName,
      key: ctx.key,
    };
    if (!verifySignature(signed, auth, check.key.accessKeySecret)) {
      throw new OssError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        { OSSAccessKeyId: auth.accessKeyId },
      );
    }
    const bucket = this.requireBucket(ctx.bucketName);
    const region = auth.version === 4 ? auth.region : ctx.hostRegion;
    if (region && region !== bucket.region) {
      throw new OssError(
        403,
        'AccessDenied',
        'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
        { Endpoint: `oss-${bucket.region}.aliyuncs.com` },
      );
    }
  }

  private async dispatch(ctx: Ctx): Promise<void> {
    const bucket = this.requireBucket(ctx.bucketName);
    switch (ctx.operation) {
      case 'PutObject':
        return this.putObject(ctx, bucket);
      case 'GetObject':
      case 'HeadObject':
        return this.getObject_(ctx, bucket, ctx.operation === 'HeadObject');
      case 'DeleteObject':
        return this.deleteObject(ctx, bucket);
      case 'CopyObject':
        return this.copyObject(ctx, bucket);
      case 'ListObjects':
      case 'ListObjectsV2':
        return this.listObjects(ctx, bucket, ctx.operation === 'ListObjectsV2');
      case 'PutObjectTagging':
        return this.putTagging(ctx, bucket);
      case 'GetBucketVersioning':
        return this.sendXml(ctx, 200, 'VersioningConfiguration', bucket.versioning ? { Status: bucket.versioning } : {});
      case 'PutBucketVersioning':
        return this.putVersioning(ctx, bucket);
      case 'GetObjectTagging':
        return this.getTagging(ctx, bucket);
      case 'DeleteObjectTagging':
        this.requireObject(bucket, ctx.key).tags = new Map();
        return this.send(ctx, 204);
      case 'InitiateMultipartUpload':
        return this.initiateMultipart(ctx, bucket);
      case 'UploadPart':
        return this.uploadPart(ctx, bucket);
      case 'CompleteMultipartUpload':
        return this.completeMultipart(ctx, bucket);
      case 'AbortMultipartUpload': {
        const upload = this.requireUpload(bucket, ctx);
        for (const p of upload.parts.values()) this.bodies.release([p.segment]);
        bucket.uploads.delete(upload.uploadId);
        return this.send(ctx, 204);
      }
      default:
        throw new OssError(
          400,
          'InvalidArgument',
          `Operation ${ctx.req.method} ${ctx.operation} is not supported by the local OSS stand-in.`,
        );
    }
  }

  private requireObject(bucket: Bucket, key: string): StoredObject {
    const obj = bucket.objects.get(key);
    if (!obj) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
    return obj;
  }

  private userMeta(ctx: Ctx): Record<string, string> {
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.req.headers)) {
      if (k.startsWith('x-oss-meta-') && typeof v === 'string') meta[k.slice('x-oss-meta-'.length)] = v;
    }
    if (JSON.stringify(meta).length > 8192)
      throw new OssError(400, 'MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.');
    return meta;
  }

  private taggingHeader(value: string | string[] | undefined): Map<string, string> {
    if (typeof value !== 'string' || value === '') return new Map();
    return validateTags([...new URLSearchParams(value).entries()]);
  }

  /** Enable or suspend versioning (PUT /?versioning), as an operator would with ossutil. */
  setVersioning(bucket: string, status: 'Enabled' | 'Suspended'): void {
    this.requireBucket(bucket).versioning = status;
  }

  private async putVersioning(ctx: Ctx, bucket: Bucket): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of ctx.req) chunks.push(c as Buffer);
    const status = /<Status>(Enabled|Suspended)<\/Status>/.exec(Buffer.concat(chunks).toString('utf8'))?.[1] as
      | 'Enabled'
      | 'Suspended'
      | undefined;
    if (!status) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
    bucket.versioning = status;
    this.send(ctx, 200);
  }

  /**
   * x-oss-forbid-overwrite has no effect on a bucket whose versioning is Enabled or
   * Suspended: the PUT writes a new version (documented with the SDKs' ForbidOverwrite).
   */
  private forbidOverwrite(ctx: Ctx, bucket: Bucket, key: string): void {
    if (bucket.versioning) return;
    if (String(ctx.req.headers['x-oss-forbid-overwrite']).toLowerCase() === 'true' && bucket.objects.has(key)) {
      throw new OssError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.', { Key: key });
    }
  }

  private async putObject(ctx: Ctx, bucket: Bucket): Promise<void> {
    const meta = this.userMeta(ctx);
    const tags = this.taggingHeader(ctx.req.headers['x-oss-tagging']);
    this.forbidOverwrite(ctx, bucket, ctx.key);
    const written = await this.bodies.write(ctx.req);
    const expectedMd5 = ctx.req.headers['content-md5'];
    if (expectedMd5 && expectedMd5 !== written.md5.toString('base64')) {
      this.bodies.release([written.segment]);
      throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
    }
    // Checked again after the body: a concurrent create may have won meanwhile.
    try {
      this.forbidOverwrite(ctx, bucket, ctx.key);
    } catch (err) {
      this.bodies.release([written.segment]);
      throw err;
    }
    const previous = bucket.objects.get(ctx.key);
    const obj: StoredObject = {
      key: ctx.key,
      segments: [written.segment],
      size: written.size,
      etag: md5Hex(written.md5),
      lastModified: new Date(),
      contentType: (ctx.req.headers['content-type'] as string | undefined) ?? 'application/octet-stream',
      meta,
      tags,
      type: 'Normal',
    };
    bucket.objects.set(ctx.key, obj);
    if (previous && bucket.versioning) {
      bucket.noncurrent ??= [];
      bucket.noncurrent.push(previous);
    } else if (previous) this.bodies.release(previous.segments);
    if (bucket.versioning === 'Enabled')
      ctx.res.setHeader('x-oss-version-id', `CAEQ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`);
    ctx.res.setHeader('ETag', `"${obj.etag}"`);
    this.send(ctx, 200);
    this.emit('ObjectCreated:PutObject', bucket, obj, obj.size - (previous?.size ?? 0), ctx.requestId, ctx.accessKeyId ?? '');
  }

  private objectHeaders(ctx: Ctx, obj: StoredObject): void {
    const r = ctx.res;
    r.setHeader('Content-Type', obj.contentType);
    r.setHeader('ETag', `"${obj.etag}"`);
    r.setHeader('Last-Modified', obj.lastModified.toUTCString());
    r.setHeader('Accept-Ranges', 'bytes');
    r.setHeader('x-oss-object-type', obj.type);
    r.setHeader('x-oss-storage-class', 'Standard');
    for (const [k, v] of Object.entries(obj.meta)) r.setHeader(`x-oss-meta-${k}`, v);
    if (obj.tags.size) r.setHeader('x-oss-tagging-count', String(obj.tags.size));
  }

  private async getObject_(ctx: Ctx, bucket: Bucket, head: boolean): Promise<void> {
    const obj = this.requireObject(bucket, ctx.key);
    this.objectHeaders(ctx, obj);
    let start = 0;
    let end = obj.size - 1;
    let partial = false;
    const range = ctx.req.headers.range;
    if (range && !head) {
      const standard = ctx.req.headers['x-oss-range-behavior'] === 'standard';
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      let s: number | undefined;
      let e: number | undefined;
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          s = Number(m[1]);
          e = m[2] ? Number(m[2]) : obj.size - 1;
        } else {
          s = obj.size - Number(m[2]);
          e = obj.size - 1;
        }
      }
      const valid = s !== undefined && e !== undefined && s >= 0 && s <= e && e < obj.size;
      if (valid) {
        start = s!;
        end = e!;
        partial = true;
      } else if (standard && s !== undefined && e !== undefined && s < obj.size && s <= e) {
        start = s;
        end = obj.size - 1;
        partial = true;
      } else if (standard && s !== undefined) {
        ctx.res.removeHeader('Content-Type');
        throw new OssError(416, 'InvalidRange', 'The requested range cannot be satisfied', {
          ActualObjectSize: String(obj.size),
          RangeRequested: range,
        });
      }
      // Otherwise OSS ignores an out-of-range Range and answers 200 with the whole object.
    }
    const length = obj.size === 0 ? 0 : end - start + 1;
    ctx.res.setHeader('Content-Length', String(length));
    if (partial) ctx.res.setHeader('Content-Range', `bytes ${start}-${end}/${obj.size}`);
    ctx.res.statusCode = partial ? 206 : 200;
    if (head || length === 0) {
      ctx.res.end();
      return;
    }
    ctx.bytesSent = length;
    await new Promise<void>((resolve) => {
      const body = readRange(obj.segments, start, end);
      body.on('error', () => ctx.res.destroy());
      ctx.res.on('close', () => {
        body.destroy();
        resolve();
      });
      body.pipe(ctx.res);
    });
  }

  private deleteObject(ctx: Ctx, bucket: Bucket): void {
    const obj = bucket.objects.get(ctx.key);
    if (obj) {
      bucket.objects.delete(ctx.key);
      this.bodies.release(obj.segments);
    }
    this.send(ctx, 204);
  }

  private async copyObject(ctx: Ctx, bucket: Bucket): Promise<void> {
    const source = String(ctx.req.headers['x-oss-copy-source']);
    const m = /^\/?([^/]+)\/(.+)$/s.exec(source.split('?')[0]!);
    if (!m) throw new OssError(400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.');
    const srcBucket = this.requireBucket(m[1]);
    const src = this.requireObject(srcBucket, decodeURIComponent(m[2]!));
    this.forbidOverwrite(ctx, bucket, ctx.key);
    const replaceMeta = String(ctx.req.headers['x-oss-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
    const replaceTags = String(ctx.req.headers['x-oss-tagging-directive'] ?? 'Copy').toLowerCase() === 'replace';
    await readBody(ctx.req);
    const previous = bucket.objects.get(ctx.key);
    const obj: StoredObject = {
      ...src,
      key: ctx.key,
      lastModified: new Date(),
      meta: replaceMeta ? this.userMeta(ctx) : { ...src.meta },
      contentType: replaceMeta ? ((ctx.req.headers['content-type'] as string | undefined) ?? src.contentType) : src.contentType,
      tags: replaceTags ? this.taggingHeader(ctx.req.headers['x-oss-tagging']) : new Map(src.tags),
      // Segments are shared with the source; only release file bodies no object references.
      segments: src.segments.map((s) => ({ ...s })),
    };
    if (previous && previous !== src) this.releaseUnreferenced(previous.segments);
    bucket.objects.set(ctx.key, obj);
    this.sendXml(ctx, 200, 'CopyObjectResult', { ETag: `"${obj.etag}"`, LastModified: obj.lastModified.toISOString() });
    this.emit('ObjectCreated:CopyObject', bucket, obj, obj.size - (previous?.size ?? 0), ctx.requestId, ctx.accessKeyId ?? '');
  }

  private releaseUnreferenced(segments: Segment[]): void {
    const inUse = new Set<string>();
    for (const b of this.buckets.values())
      for (const o of b.objects.values()) for (const s of o.segments) if (s.kind === 'file') inUse.add(s.path);
    this.bodies.release(segments.filter((s) => s.kind !== 'file' || !inUse.has(s.path)));
  }

  private listObjects(ctx: Ctx, bucket: Bucket, v2: boolean): void {
    const q = ctx.query;
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeysRaw = q.get('max-keys');
    const maxKeys = maxKeysRaw === null ? 100 : Number(maxKeysRaw);
    if (!Number.isInteger(maxKeys) || maxKeys < 0 || maxKeys > 1000) {
      throw new OssError(400, 'InvalidArgument', 'Argument max-keys must be an integer between 0 and 1000.');
    }
    const token = q.get('continuation-token');
    let after = v2 ? (q.get('start-after') ?? '') : (q.get('marker') ?? '');
    if (v2 && token) after = Buffer.from(token, 'base64url').toString('utf8');
    const encodeUrl = q.get('encoding-type') === 'url';
    const enc = (s: string): string => (encodeUrl ? encodeURIComponent(s) : s);
    const keys = [...bucket.objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const contents: StoredObject[] = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last = '';
    for (const key of keys) {
      let common: string | undefined;
      if (delimiter) {
        const i = key.indexOf(delimiter, prefix.length);
        if (i >= 0) common = key.slice(0, i + delimiter.length);
      }
      if (common && prefixes.includes(common)) continue;
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (common) {
        prefixes.push(common);
        last = keys.filter((k) => k.startsWith(common!)).pop() ?? key;
      } else {
        contents.push(bucket.objects.get(key)!);
        last = key;
      }
    }
    const owner = { ID: this.options.credentials.accountId, DisplayName: this.options.credentials.accountId };
    const items = contents.map((o) => ({
      Key: enc(o.key),
      LastModified: o.lastModified.toISOString(),
      ETag: `"${o.etag}"`,
      Type: o.type,
      Size: o.size,
      StorageClass: 'Standard',
      Owner: v2 && q.get('fetch-owner') !== 'true' ? undefined : owner,
    }));
    const common = prefixes.map((p) => ({ Prefix: enc(p) }));
    if (v2) {
      this.sendXml(ctx, 200, 'ListBucketResult', {
        Name: bucket.name,
        Prefix: enc(prefix),
        StartAfter: q.get('start-after') ? enc(q.get('start-after')!) : undefined,
        ContinuationToken: token ?? undefined,
        MaxKeys: maxKeys,
        Delimiter: enc(delimiter),
        EncodingType: encodeUrl ? 'url' : undefined,
        IsTruncated: truncated,
        NextContinuationToken: truncated ? Buffer.from(last).toString('base64url') : undefined,
        KeyCount: contents.length + prefixes.length,
        Contents: items,
        CommonPrefixes: common,
      });
    } else {
      this.sendXml(ctx, 200, 'ListBucketResult', {
        Name: bucket.name,
        Prefix: enc(prefix),
        Marker: enc(after),
        MaxKeys: maxKeys,
        Delimiter: enc(delimiter),
        EncodingType: encodeUrl ? 'url' : undefined,
        IsTruncated: truncated,
        NextMarker: truncated ? enc(last) : undefined,
        Contents: items,
        CommonPrefixes: common,
      });
    }
  }

  private async putTagging(ctx: Ctx, bucket: Bucket): Promise<void> {
    const body = (await readBody(ctx.req, 1 << 20)).toString('utf8');
    const obj = this.requireObject(bucket, ctx.key);
    let parsed: Record<string, unknown>;
    try {
      parsed = parseXml(body);
    } catch {
      throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
    }
    const tagging = parsed.Tagging as { TagSet?: { Tag?: { Key?: unknown; Value?: unknown }[] } | '' } | undefined;
    if (!tagging) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
    const list = (typeof tagging.TagSet === 'object' ? tagging.TagSet.Tag : undefined) ?? [];
    obj.tags = validateTags(list.map((t) => [String(t.Key ?? ''), t.Value === undefined ? '' : String(t.Value)]));
    this.send(ctx, 200);
  }

  private getTagging(ctx: Ctx, bucket: Bucket): void {
    const obj = this.requireObject(bucket, ctx.key);
    this.sendXml(ctx, 200, 'Tagging', {
      TagSet: { Tag: [...obj.tags].map(([Key, Value]) => ({ Key, Value })) },
    });
  }

  private initiateMultipart(ctx: Ctx, bucket: Bucket): void {
    this.forbidOverwrite(ctx, bucket, ctx.key);
    const uploadId = requestId();
    bucket.uploads.set(uploadId, {
      uploadId,
      key: ctx.key,
      initiated: new Date(),
      contentType: (ctx.req.headers['content-type'] as string | undefined) ?? 'application/octet-stream',
      meta: this.userMeta(ctx),
      tagging: ctx.req.headers['x-oss-tagging'] as string | undefined,
      parts: new Map(),
    });
    ctx.req.resume();
    this.sendXml(ctx, 200, 'InitiateMultipartUploadResult', { Bucket: bucket.name, Key: ctx.key, UploadId: uploadId });
    this.emit(
      'ObjectCreated:InitiateMultipartUpload',
      bucket,
      { key: ctx.key, size: 0, etag: '', meta: {} },
      0,
      ctx.requestId,
      ctx.accessKeyId ?? '',
    );
  }

  private requireUpload(bucket: Bucket, ctx: Ctx) {
    const upload = bucket.uploads.get(ctx.query.get('uploadId') ?? '');
    if (!upload || upload.key !== ctx.key) {
      throw new OssError(
        404,
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        { UploadId: ctx.query.get('uploadId') ?? '' },
      );
    }
    return upload;
  }

  private async uploadPart(ctx: Ctx, bucket: Bucket): Promise<void> {
    const upload = this.requireUpload(bucket, ctx);
    const partNumber = Number(ctx.query.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw new OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive.');
    }
    const written = await this.bodies.write(ctx.req);
    const old = upload.parts.get(partNumber);
    if (old) this.bodies.release([old.segment]);
    const etag = md5Hex(written.md5);
    upload.parts.set(partNumber, { segment: written.segment, etag, size: written.size });
    ctx.res.setHeader('ETag', `"${etag}"`);
    this.send(ctx, 200);
    this.emit(
      'ObjectCreated:UploadPart',
      bucket,
      { key: ctx.key, size: written.size, etag, meta: {} },
      written.size,
      ctx.requestId,
      ctx.accessKeyId ?? '',
    );
  }

  private async completeMultipart(ctx: Ctx, bucket: Bucket): Promise<void> {
    const upload = this.requireUpload(bucket, ctx);
    const body = (await readBody(ctx.req, 4 << 20)).toString('utf8');
    const parsed = parseXml(body).CompleteMultipartUpload as { Part?: { PartNumber?: string; ETag?: string }[] } | undefined;
    const requested = parsed?.Part ?? [];
    if (!requested.length)
      throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    let previous = 0;
    const parts = requested.map((p, i) => {
      const n = Number(p.PartNumber);
      if (n <= previous) throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
      previous = n;
      const stored = upload.parts.get(n);
      const etag = String(p.ETag ?? '')
        .replace(/"/g, '')
        .toUpperCase();
      if (!stored || stored.etag !== etag)
        throw new OssError(
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
          { PartNumber: String(n) },
        );
      if (i < requested.length - 1 && stored.size < MIN_PART_SIZE)
        throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.', {
          PartNumber: String(n),
        });
      return stored;
    });
    this.forbidOverwrite(ctx, bucket, ctx.key);
    const previousObj = bucket.objects.get(ctx.key);
    const obj: StoredObject = {
      key: ctx.key,
      segments: parts.map((p) => p.segment),
      size: parts.reduce((n, p) => n + p.size, 0),
      etag: multipartEtag(parts.map((p) => p.etag)),
      lastModified: new Date(),
      contentType: upload.contentType,
      meta: upload.meta,
      tags: this.taggingHeader(upload.tagging),
      type: 'Multipart',
    };
    for (const [n, p] of upload.parts)
      if (!parts.includes(p)) {
        this.bodies.release([p.segment]);
        upload.parts.delete(n);
      }
    bucket.uploads.delete(upload.uploadId);
    bucket.objects.set(ctx.key, obj);
    if (previousObj) this.releaseUnreferenced(previousObj.segments);
    this.sendXml(ctx, 200, 'CompleteMultipartUploadResult', {
      Location: `http://${bucket.name}.oss-${bucket.region}.aliyuncs.com/${ctx.key}`,
      Bucket: bucket.name,
      Key: ctx.key,
      ETag: `"${obj.etag}"`,
    });
    this.emit(
      'ObjectCreated:CompleteMultipartUpload',
      bucket,
      obj,
      obj.size - (previousObj?.size ?? 0),
      ctx.requestId,
      ctx.accessKeyId ?? '',
    );
  }

  private send(ctx: Ctx, status: number): void {
    ctx.res.statusCode = status;
    ctx.res.setHeader('Content-Length', '0');
    ctx.res.end();
  }

  private sendXml(ctx: Ctx, status: number, root: string, body: Record<string, unknown>): void {
    const text = Buffer.from(toXml(root, body as never));
    ctx.res.statusCode = status;
    ctx.res.setHeader('Content-Type', 'application/xml');
    ctx.res.setHeader('Content-Length', String(text.length));
    ctx.res.end(text);
  }

  private sendError(ctx: Ctx, err: unknown): void {
    const e = err instanceof OssError ? err : new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.');
    if (!(err instanceof OssError)) console.error('[local oss]', err);
    if (ctx.res.headersSent) {
      ctx.res.destroy();
      return;
    }
    const xml = toXml('Error', {
      Code: e.code,
      Message: e.message,
      RequestId: ctx.requestId,
      HostId: `${ctx.bucketName ?? ''}.oss-cn-beijing.aliyuncs.com`,
      ...e.extra,
      EC: '0000-00000000',
    });
    ctx.res.statusCode = e.status;
    for (const h of ctx.res.getHeaderNames()) if (!['x-oss-request-id', 'server', 'date'].includes(h)) ctx.res.removeHeader(h);
    ctx.res.setHeader('Content-Type', 'application/xml');
    ctx.req.resume();
    if (ctx.req.method === 'HEAD') {
      ctx.res.setHeader('x-oss-err', Buffer.from(xml).toString('base64'));
      ctx.res.end();
      return;
    }
    const body = Buffer.from(xml);
    ctx.res.setHeader('Content-Length', String(body.length));
    ctx.res.end(body);
  }
}
