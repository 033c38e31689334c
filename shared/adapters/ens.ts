import { isPermissionCode } from '../core/permission';
import type RPCClient from '@alicloud/pop-core';
import type { ImportImageRequest } from '../core/param-fields';
import { redact } from '../core/redact';

/** The only file that talks to ENS: @alicloud/pop-core with errors made safe and classified. */

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export class EnsCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly transient: boolean,
    readonly requestId?: string,
    /** false when no answer came back at all (timeout, reset): the request may still be running */
    readonly answered = true,
    /** the RAM action a refusal was about */
    public action?: string,
  ) {
    super(message);
    this.name = 'EnsCallError';
  }
}

const PERMANENT =
  /^(InvalidParameter|MissingParameter|NoPermission|Forbidden|InvalidAccessKeyId|SignatureDoesNotMatch|IncompleteSignature|InvalidAction|UnsupportedOperation|OperationDenied|InvalidImageName)/;

/** Turn whatever pop-core threw into an EnsCallError whose message holds no secret. */
export function classifyEnsError(err: unknown, secrets: readonly (string | undefined)[]): EnsCallError {
  if (err instanceof EnsCallError) return err;
  const e = (err ?? {}) as { code?: unknown; name?: unknown; message?: unknown; data?: { RequestId?: string; Message?: string } };
  const message = redact(String(e.data?.Message ?? e.message ?? err), secrets).replace(/, URL: \S+/, '');
  if (typeof e.code === 'string' && e.data) {
    return new EnsCallError(e.code, message, !PERMANENT.test(e.code), e.data.RequestId);
  }
  if (e.name === 'SyntaxError')
    return new EnsCallError('NonJsonResponse', 'ENS answered with a body that is not JSON (a gateway error page)', true);
  if (e.name === 'RequestTimeoutError') return new EnsCallError('RequestTimeout', message, true, undefined, false);
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'NetworkError';
  return new EnsCallError(code, message, true, undefined, false);
}

export interface ImportResult {
  imageId: string;
  requestId: string;
}

export interface SelfImage {
  ImageId: string;
  ImageName: string;
  Status: string;
  CreationTime?: string;
}

export interface EnsApi {
  importImage(params: ImportImageRequest, timeoutMs: number): Promise<ImportResult>;
  describeSelfImages(
    query: { ImageId?: string; ImageName?: string; PageNumber?: number; PageSize?: number },
    timeoutMs: number,
  ): Promise<{ images: SelfImage[]; totalCount: number; requestId: string }>;
  /** DeleteImage; `gone`: ENS does not have the image (deleted already). In use, or not yet made: thrown. */
  deleteImage(imageId: string, timeoutMs: number): Promise<'deleted' | 'gone'>;
}

const clients = new Map<string, Promise<RPCClient>>();

/**
 * One pop-core client per endpoint and key: it keeps its keep-alive agent across invocations.
 * pop-core (with httpx and its XML parser, about 10 ms of a cold start's module evaluation) is
 * evaluated at the first ENS call, not when the function loads: an event that ends before ENS
 * (a duplicate, a skip, a refusal) never pays for it.
 */
function clientFor(endpoint: string, credentials: Credentials): Promise<RPCClient> {
  const cacheKey = `${endpoint}|${credentials.accessKeyId}|${credentials.securityToken ?? ''}`;
  let client = clients.get(cacheKey);
  if (!client) {
    if (clients.size > 8) clients.clear();
    client = newClient(endpoint, credentials);
    // a failed load is not kept: the next call tries again
    client.catch(() => clients.delete(cacheKey));
    clients.set(cacheKey, client);
  }
  return client;
}

async function newClient(endpoint: string, credentials: Credentials): Promise<RPCClient> {
  const { default: RPCClient } = await import('@alicloud/pop-core');
  return new RPCClient({
    endpoint,
    apiVersion: '2017-11-10',
    accessKeyId: credentials.accessKeyId,
    accessKeySecret: credentials.accessKeySecret,
    ...(credentials.securityToken ? { securityToken: credentials.securityToken } : {}),
    // ENS success bodies carry "Code": 0, which pop-core would otherwise treat as an error.
    codes: [0, '0'],
  } as RPCClient.Config);
}

export function createEnsApi(endpoint: string, credentials: Credentials): EnsApi {
  const client = clientFor(endpoint, credentials);
  const secrets = [credentials.accessKeySecret, credentials.securityToken, credentials.accessKeyId];
  const call = async <T>(action: string, params: Record<string, unknown>, timeoutMs: number): Promise<T> => {
    try {
      return (await (await client).request(action, params, { method: 'POST', timeout: Math.max(1, Math.floor(timeoutMs)) })) as T;
    } catch (err) {
      const e = classifyEnsError(err, secrets);
      if (isPermissionCode(e.code)) e.action ??= `ens:${action}`;
      throw e;
    }
  };
  return {
    async importImage(params, timeoutMs) {
      const body = await call<{ ImageId?: string; RequestId?: string }>('ImportImage', params, timeoutMs);
      if (!body.ImageId) throw new EnsCallError('EmptyResponse', 'ImportImage answered without an ImageId', true, body.RequestId);
      return { imageId: body.ImageId, requestId: body.RequestId ?? '' };
    },
    async describeSelfImages(query, timeoutMs) {
      const body = await call<{ Images?: { Image?: SelfImage[] }; TotalCount?: number | string; RequestId?: string }>(
        'DescribeSelfImages',
        query,
        timeoutMs,
      );
      // the paging fields come back as strings ("120"): counted as numbers here, once
      return { images: body.Images?.Image ?? [], totalCount: Number(body.TotalCount ?? 0) || 0, requestId: body.RequestId ?? '' };
    },
    async deleteImage(imageId, timeoutMs) {
      try {
        await call('DeleteImage', { ImageId: imageId }, timeoutMs);
        return 'deleted';
      } catch (err) {
        // the API page's answer for an id ENS does not have
        if (err instanceof EnsCallError && err.code === 'InvalidParameter.ImageId') return 'gone';
        throw err;
      }
    },
  };
}
