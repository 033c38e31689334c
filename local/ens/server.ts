import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialStore } from '../credentials';
import { FaultInjector, sleep } from '../faults';
import { RAM_API_VERSION, RamFailure, ramAnswer } from '../ram-api';
import { readBody, requestId, StandInServer } from '../http';
import { DEFAULT_SCHEDULE, ManualClock, newImageId, statusAt, type ImageSchedule, type StoredImage, TERMINAL_FAILURES } from './images';
import { validateImportImage, type PopError } from './validate';

export const ENS_API_VERSION = '2017-11-10';

export interface EnsOptions {
  credentials: CredentialStore;
  port?: number;
  /** Does the source object exist? Wired to the OSS stand-in. */
  objectExists?: (region: string, bucket: string, key: string) => boolean;
  schedule?: Partial<ImageSchedule>;
  allowedPlatforms?: string[];
  /**
   * The order DescribeSelfImages lists images in; the API page states none, so both can be
   * tried (default: oldest first, as images were made).
   */
  listingOrder?: 'oldest-first' | 'newest-first';
  /** Calls per second allowed per action (Throttling.User beyond). */
  rateLimits?: Record<string, number>;
  faultSeed?: number;
}

export interface EnsCall {
  action: string;
  params: Record<string, string>;
  status: number;
  code?: string;
  requestId: string;
  at: number;
  ms: number;
}

const SIGNING_FIELDS = new Set([
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'AccessKeyId',
  'SecurityToken',
  'Timestamp',
  'Format',
  'Version',
  'Action',
]);

export const popEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export function rpcStringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${popEncode(k)}=${popEncode(params[k]!)}`)
    .join('&');
  return `${method}&${popEncode('/')}&${popEncode(canonical)}`;
}

export function rpcSignature(method: string, params: Record<string, string>, secret: string): string {
  return createHmac('sha1', `${secret}&`).update(rpcStringToSign(method, params)).digest('base64');
}

class PopFailure extends Error {
  constructor(readonly error: PopError) {
    super(error.message);
  }
}
const fail = (status: number, code: string, message: string): PopFailure => new PopFailure({ status, code, message });

export class EnsStandIn extends StandInServer {
  readonly clock = new ManualClock();
  private readonly images = new Map<string, StoredImage>();
  readonly calls: EnsCall[] = [];
  readonly faults: FaultInjector;
  readonly rateLimits: Record<string, number>;
  private readonly schedule: ImageSchedule;
  private readonly nonces = new Set<string>();
  private readonly windows = new Map<string, { second: number; count: number }>();
  constructor(private readonly options: EnsOptions) {
    super('ENS stand-in');
    this.schedule = { ...DEFAULT_SCHEDULE, ...options.schedule };
    this.faults = new FaultInjector(options.faultSeed ?? 11);
    this.rateLimits = { ...options.rateLimits };
  }

  async start(): Promise<this> {
    await this.listenOn(this.options.port ?? 0);
    return this;
  }

  stop(): Promise<void> {
    return this.close();
  }

  /** Make an image end in a failure status, now or after `afterMs` of clock time. */
  failImage(imageId: string, status: (typeof TERMINAL_FAILURES)[number], afterMs = 0): void {
    const image = this.images.get(imageId);
    if (!image) throw new Error(`no image ${imageId}`);
    image.failure = { status, atMs: this.clock.now() + afterMs };
  }

  statusOf(imageId: string): string | undefined {
    const image = this.images.get(imageId);
    return image && !image.deleted ? statusAt(image, this.clock.now(), this.schedule) : undefined;
  }

  /** Every image of the account (deleted ones too, marked), as copies: tests and the bench read them. */
  listImages(): Readonly<StoredImage>[] {
    return [...this.images.values()].map((i) => ({ ...i, params: { ...i.params } }));
  }

  /**
   * An image as an earlier import would have left it (the bench seeds thousands without
   * calling ImportImage for each); `createdAt` in clock time.
   */
  seedImage(image: Omit<StoredImage, 'imageId'> & { imageId?: string }): string {
    const imageId = image.imageId ?? newImageId();
    this.images.set(imageId, { ...image, imageId, params: { ...image.params } });
    return imageId;
  }

  /** ENS loses an image it was making (an import it dropped): from now on it answers as if it never had it. */
  forgetImage(imageId: string): void {
    const image = this.images.get(imageId);
    if (!image) throw new Error(`no image ${imageId}`);
    image.deleted = true;
  }

  /** The image takes `ms` longer to make than the schedule says (ENS's import time follows the image's size). */
  slowImage(imageId: string, ms: number): void {
    const image = this.images.get(imageId);
    if (!image) throw new Error(`no image ${imageId}`);
    image.slowerByMs = ms;
  }

  /** An instance now runs from the image (or no longer does): ENS refuses to delete an image in use. */
  useImage(imageId: string, inUse = true): void {
    const image = this.images.get(imageId);
    if (!image) throw new Error(`no image ${imageId}`);
    image.inUse = inUse;
  }

  /**
   * DeleteImage as its API page documents it: HTTP 400 `Forbidden.DelerrorteImage` (sic) for an
   * image an instance uses, `IncorrectStatus.Image` while it is still being made, and
   * `InvalidParameter.ImageId` for an id ENS does not have; success is `{"Code": 0}`.
   */
  private deleteImage(p: Record<string, string>): Record<string, unknown> {
    if (!p.ImageId)
      throw fail(400, 'MissingParameter', 'The input parameters that is mandatory for processing this request is not supplied.');
    const image = this.images.get(p.ImageId);
    if (!image || image.deleted) throw fail(400, 'InvalidParameter.ImageId', 'The specified field ImageId invalid. Please check it again.');
    if (image.inUse) throw fail(400, 'Forbidden.DelerrorteImage', 'The image cannot be deleted when used by instance.');
    const status = statusAt(image, this.clock.now(), this.schedule);
    if (!['Available', ...TERMINAL_FAILURES].includes(status))
      throw fail(400, 'IncorrectStatus.Image', 'The current status of the image does not support this operation.');
    image.deleted = true;
    return { Code: 0 };
  }

  callsOf(action: string): EnsCall[] {
    return this.calls.filter((c) => c.action === action);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const rid = requestId().replace(/^(.{8})(.{4})(.{4})(.{4})(.{8}).*/, '$1-$2-$3-$4-$5');
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://local');
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    let action = params.Action ?? 'Unknown';
    const call: EnsCall = { action, params: {}, status: 200, requestId: rid, at: this.clock.now(), ms: 0 };
    try {
      if (method === 'POST') {
        const body = (await readBody(req, 1 << 20)).toString('utf8');
        Object.assign(params, Object.fromEntries(new URLSearchParams(body)));
      }
      action = params.Action ?? 'Unknown';
      call.action = action;
      call.params = Object.fromEntries(Object.entries(params).filter(([k]) => !SIGNING_FIELDS.has(k)));
      const fault = this.faults.decide(action);
      if (fault.latencyMs) await sleep(fault.latencyMs);
      if (fault.drop) {
        req.socket.destroy();
        call.status = -1;
        return;
      }
      if (fault.error?.html) {
        call.status = fault.error.status;
        call.code = 'html';
        res.writeHead(fault.error.status, { 'Content-Type': 'text/html' });
        res.end(
          `<html><head><title>${fault.error.status} Bad Gateway</title></head><body><center><h1>${fault.error.status} Bad Gateway</h1></center><hr><center>Tengine</center></body></html>`,
        );
        return;
      }
      if (fault.error) throw fail(fault.error.status, fault.error.code, fault.error.message);
      this.authenticate(method, params);
      const product = params.Version === RAM_API_VERSION ? 'ram' : 'ens';
      if (!this.options.credentials.allows(params.AccessKeyId!, `${product}:${action}`, '*'))
        throw fail(403, 'Forbidden.RAM', "User not authorized to operate on the specified resource, or this API doesn't support RAM.");
      this.throttle(action);
      const body = params.Version === RAM_API_VERSION ? this.ram(action, params) : this.dispatch(action, params);
      this.reply(res, 200, { RequestId: rid, ...body });
    } catch (err) {
      const e =
        err instanceof PopFailure
          ? err.error
          : { status: 500, code: 'InternalError', message: 'The request processing has failed due to some unknown error.' };
      if (!(err instanceof PopFailure)) console.error('[local ens]', err);
      call.status = e.status;
      call.code = e.code;
      this.reply(res, e.status, {
        RequestId: rid,
        HostId: 'ens.aliyuncs.com',
        Code: e.code,
        Message: e.message,
        Recommend: `https://api.aliyun.com/troubleshoot?q=${e.code}&product=Ens`,
      });
    } finally {
      call.ms = Date.now() - started;
      this.calls.push(call);
    }
  }

  private ram(action: string, params: Record<string, string>): Record<string, unknown> {
    try {
      return ramAnswer(action, params, this.options.credentials);
    } catch (err) {
      if (err instanceof RamFailure) throw fail(err.status, err.code, err.message);
      throw err;
    }
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json;charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private authenticate(method: string, p: Record<string, string>): void {
    for (const f of ['AccessKeyId', 'Signature', 'SignatureNonce', 'Timestamp', 'Version']) {
      if (!p[f])
        throw fail(400, `MissingParameter`, `The input parameter "${f}" that is mandatory for processing this request is not supplied.`);
    }
    if (p.Version !== ENS_API_VERSION && p.Version !== RAM_API_VERSION)
      throw fail(400, 'InvalidVersion', `Specified parameter Version is not valid.`);
    if (p.SignatureMethod !== 'HMAC-SHA1') throw fail(400, 'InvalidSignatureMethod', 'Specified signature method is not valid.');
    const check = this.options.credentials.check(p.AccessKeyId!, p.SecurityToken);
    if (!check.ok) {
      if (check.reason === 'unknown-key') throw fail(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
      throw fail(400, 'InvalidSecurityToken.MismatchWithAccessKey', 'The Security Token does not match the AccessKeyId.');
    }
    const expected = rpcSignature(method, p, check.key.accessKeySecret);
    const given = Buffer.from(p.Signature!);
    if (given.length !== Buffer.byteLength(expected) || !timingSafeEqual(given, Buffer.from(expected))) {
      // as the POP gateway does: the string to sign, SecurityToken in it percent-encoded twice
      throw fail(
        400,
        'SignatureDoesNotMatch',
        `Specified signature is not matched with our calculation. server string to sign is:${rpcStringToSign(method, p)}`,
      );
    }
    const ts = Date.parse(p.Timestamp!);
    if (!Number.isFinite(ts) || Math.abs(Date.now() - ts) > 15 * 60_000) {
      throw fail(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    }
    if (this.nonces.has(p.SignatureNonce!)) throw fail(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    this.nonces.add(p.SignatureNonce!);
  }

  private throttle(action: string): void {
    const limit = this.rateLimits[action];
    if (!limit) return;
    const second = Math.floor(Date.now() / 1000);
    const w = this.windows.get(action);
    if (!w || w.second !== second) {
      this.windows.set(action, { second, count: 1 });
      return;
    }
    if (w.count >= limit) throw fail(400, 'Throttling.User', 'Request was denied due to user flow control.');
    w.count += 1;
  }

  private dispatch(action: string, p: Record<string, string>): Record<string, unknown> {
    switch (action) {
      case 'ImportImage':
        return this.importImage(p);
      case 'DescribeSelfImages':
        return this.describeSelfImages(p);
      case 'DeleteImage':
        return this.deleteImage(p);
      default:
        throw fail(404, 'InvalidAction.NotFound', `Specified api (${action}) is not found, please check your url and method.`);
    }
  }

  private importImage(p: Record<string, string>): Record<string, unknown> {
    const error = validateImportImage(p, {
      allowedPlatforms: this.options.allowedPlatforms ?? ['centos', 'ubuntu'],
      objectExists: this.options.objectExists ?? (() => true),
    });
    if (error) throw new PopFailure(error);
    const imageId = newImageId();
    this.images.set(imageId, {
      imageId,
      imageName: p.ImageName!,
      computeType: p.ComputeType!,
      osType: p.OSType!,
      platform: p.Platform,
      osVersion: p.OSVersion,
      architecture: p.Architecture!,
      createdAt: this.clock.now(),
      params: Object.fromEntries(Object.entries(p).filter(([k]) => !SIGNING_FIELDS.has(k))),
    });
    return { ImageId: imageId };
  }

  private describeSelfImages(p: Record<string, string>): Record<string, unknown> {
    const pageNumber = p.PageNumber ? Number(p.PageNumber) : 1;
    const pageSize = p.PageSize ? Number(p.PageSize) : 10;
    if (!Number.isInteger(pageNumber) || pageNumber < 1)
      throw fail(400, 'InvalidParameter.PageNumber', 'The specified field PageNumber invalid.');
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 50)
      throw fail(400, 'InvalidParameter.PageSize', 'The specified field PageSize invalid. Valid values: 1 to 50.');
    const now = this.clock.now();
    const all = [...this.images.values()].filter(
      (i) => !i.deleted && (!p.ImageId || i.imageId.includes(p.ImageId)) && (!p.ImageName || i.imageName.includes(p.ImageName)),
    );
    if (this.options.listingOrder === 'newest-first') all.reverse();
    const page = all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    return {
      Code: 0,
      // the real API answers its paging fields as strings
      PageNumber: String(pageNumber),
      PageSize: String(pageSize),
      TotalCount: String(all.length),
      Images: {
        Image: page.map((i) => ({
          ImageId: i.imageId,
          ImageName: i.imageName,
          Status: statusAt(i, now, this.schedule),
          ComputeType: i.computeType,
          OsVersion: i.osVersion ?? '',
          Platform: i.platform ?? '',
          Architecture: i.architecture,
          ImageSize: 20,
          ImageStorageSize: 1,
          CreationTime: new Date(i.createdAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        })),
      },
    };
  }
}
