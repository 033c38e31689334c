import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialStore } from '../credentials';
import { readBody, requestId, StandInServer } from '../http';
import { acs3Signature, parseAcs3, sameHex, sha256Hex } from './acs3';
import type { FcStandIn } from './runtime';

/**
 * The FC API's invocation routes:
 * - FC 3.0 (2023-03-30), what @alicloud/fc20230330 calls for functions the fc3 component
 *   deploys: POST /2023-03-30/functions/{function}/invocations, signed ACS3-HMAC-SHA256;
 * - FC 2.0 (2016-08-15), what @alicloud/fc2 calls: POST /2016-08-15/services/{service}/
 *   functions/{function}/invocations, signed `FC <AccessKeyId>:base64(HMAC-SHA256)`.
 * `x-fc-invocation-type: Async` → 202, queued.
 */
export class FcApiServer extends StandInServer {
  constructor(
    private readonly fc: FcStandIn,
    private readonly credentials: CredentialStore,
  ) {
    super('FC API');
  }

  async start(port = 0): Promise<this> {
    await this.listenOn(port);
    return this;
  }

  stop(): Promise<void> {
    return this.close();
  }

  private reply(res: ServerResponse, status: number, body: unknown, rid: string, extra: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'x-fc-request-id': rid, ...extra });
    res.end(text);
  }

  private fail(res: ServerResponse, status: number, code: string, message: string, rid: string): void {
    this.reply(res, status, { ErrorCode: code, ErrorMessage: message }, rid, { 'x-fc-error-type': 'ApiError' });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rid = requestId();
    try {
      const body = await readBody(req, 6 * 1024 * 1024);
      if ((req.url ?? '').startsWith('/2023-03-30/')) return await this.handleV3(req, res, body, rid);
      const url = new URL(req.url ?? '/', 'http://local');
      const h = req.headers;
      const auth = /^FC ([^:]+):(.+)$/.exec(String(h.authorization ?? ''));
      if (!auth) return this.fail(res, 403, 'InvalidAccessKeyID', 'missing Authorization', rid);
      const token = h['x-fc-security-token'] as string | undefined;
      const check = this.credentials.check(auth[1]!, token);
      if (!check.ok)
        return this.fail(
          res,
          403,
          check.reason === 'unknown-key' ? 'InvalidAccessKeyID' : 'InvalidSecurityToken',
          'the access key or token is not valid',
          rid,
        );
      const fcHeaders = Object.keys(h)
        .filter((k) => k.startsWith('x-fc-'))
        .sort()
        .map((k) => `${k}:${h[k]}\n`)
        .join('');
      const stringToSign = `${req.method}\n${h['content-md5'] ?? ''}\n${h['content-type'] ?? ''}\n${h.date ?? ''}\n${fcHeaders}${url.pathname}`;
      const expected = createHmac('sha256', check.key.accessKeySecret).update(stringToSign, 'utf8').digest('base64');
      const given = Buffer.from(auth[2]!);
      if (given.length !== Buffer.byteLength(expected) || !timingSafeEqual(given, Buffer.from(expected))) {
        return this.fail(res, 403, 'SignatureNotMatch', 'the request signature does not match', rid);
      }
      if (h['content-md5']) {
        const md5 = Buffer.from(createHash('md5').update(body).digest('hex')).toString('base64');
        if (md5 !== h['content-md5']) return this.fail(res, 400, 'InvalidArgument', 'Content-MD5 does not match the body', rid);
      }
      const m = /^\/2016-08-15\/services\/([^/]+)\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
      if (req.method !== 'POST' || !m)
        return this.fail(res, 404, 'PathNotSupported', `${req.method} ${url.pathname} is not supported by the local FC API`, rid);
      const fn = decodeURIComponent(m[2]!);
      if (!this.fc.functions.has(fn)) return this.fail(res, 404, 'FunctionNotFound', `function ${fn} does not exist`, rid);
      await this.invokeFor(res, fn, body, h['x-fc-invocation-type'], rid);
    } catch (err) {
      this.fail(res, 500, 'InternalServerError', (err as Error).message, rid);
    }
  }

  private async invokeFor(res: ServerResponse, fn: string, body: Buffer, invocationType: unknown, rid: string): Promise<void> {
    if (String(invocationType ?? '').toLowerCase() === 'async') {
      this.fc.invokeAsync(fn, body);
      res.writeHead(202, { 'x-fc-request-id': rid, 'Content-Length': '0' });
      res.end();
      return;
    }
    try {
      const result = await this.fc.invoke(fn, body);
      this.reply(res, 200, result ?? null, rid);
    } catch (err) {
      this.reply(res, 200, { errorMessage: (err as Error).message, errorType: (err as Error).name }, rid, {
        'x-fc-error-type': 'UnhandledInvocationError',
      });
    }
  }

  /** FC 3.0: the OpenAPI V3 signature over the request as sent; errors in FC 3.0's JSON form. */
  private async handleV3(req: IncomingMessage, res: ServerResponse, body: Buffer, rid: string): Promise<void> {
    const fail = (status: number, code: string, message: string) =>
      this.reply(res, status, { Code: code, Message: message, RequestId: rid }, rid);
    const h = req.headers;
    const auth = parseAcs3(h.authorization as string | undefined);
    if (!auth) return fail(403, 'InvalidAccessKeyId.NotFound', 'missing or malformed ACS3-HMAC-SHA256 Authorization');
    const check = this.credentials.check(auth.accessKeyId, h['x-acs-security-token'] as string | undefined);
    if (!check.ok)
      return fail(
        403,
        check.reason === 'unknown-key' ? 'InvalidAccessKeyId.NotFound' : 'InvalidSecurityToken.Expired',
        'the access key or token is not valid',
      );
    const bodyHash = sha256Hex(body);
    if (h['x-acs-content-sha256'] !== bodyHash) return fail(400, 'InvalidArgument', 'x-acs-content-sha256 does not match the body');
    if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-acs-date'))
      return fail(403, 'SignatureDoesNotMatch', 'host and x-acs-date must be signed');
    const [rawPath = '', rawQuery = ''] = (req.url ?? '').split('?');
    const expected = acs3Signature(
      req.method ?? 'POST',
      rawPath,
      new URLSearchParams(rawQuery),
      h,
      auth.signedHeaders,
      bodyHash,
      check.key.accessKeySecret,
    );
    if (!sameHex(expected, auth.signature)) return fail(403, 'SignatureDoesNotMatch', 'the request signature does not match');
    const read = /^\/2023-03-30\/functions\/([^/]+)(\/triggers)?$/.exec(rawPath);
    if (req.method === 'GET' && read) return this.describe(res, decodeURIComponent(read[1]!), !!read[2], rid);
    const m = /^\/2023-03-30\/functions\/([^/]+)\/invocations$/.exec(rawPath);
    if (req.method !== 'POST' || !m) return fail(404, 'PathNotFound', `${req.method} ${rawPath} is not supported by the local FC API`);
    const fn = decodeURIComponent(m[1]!);
    if (!this.fc.functions.has(fn)) return fail(404, 'FunctionNotFound', `function ${fn} does not exist`);
    // RAM: a role's STS keys may invoke only the functions its policy names
    const region = this.fc.functions.get(fn)!.region ?? 'cn-beijing';
    if (!this.credentials.allows(auth.accessKeyId, 'fc:InvokeFunction', `acs:fc:${region}:${this.credentials.accountId}:functions/${fn}`))
      return fail(
        403,
        'AccessDenied',
        `You are not authorized to do action fc:InvokeFunction on resource acs:fc:${region}:${this.credentials.accountId}:functions/${fn}`,
      );
    await this.invokeFor(res, fn, body, h['x-fc-invocation-type'], rid);
  }

  /** GetFunction and ListTriggers (FC 3.0): what `ens-importer doctor` reads. */
  private describe(res: ServerResponse, name: string, triggers: boolean, rid: string): void {
    const fn = this.fc.functions.get(name);
    if (!fn) this.reply(res, 404, { Code: 'FunctionNotFound', Message: `function ${name} does not exist`, RequestId: rid }, rid);
    else if (triggers) this.reply(res, 200, { triggers: fn.triggers ?? [] }, rid);
    else
      this.reply(
        res,
        200,
        { functionName: fn.name, role: fn.role ?? '', runtime: 'nodejs20', handler: fn.handler ?? 'index.handler' },
        rid,
      );
  }
}
