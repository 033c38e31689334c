import FC2 from '@alicloud/fc2';
import FC3, { GetFunctionRequest, InvokeFunctionHeaders, InvokeFunctionRequest, ListTriggersRequest } from '@alicloud/fc20230330';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { RuntimeOptions } from '@darabonba/typescript';
import { Readable } from 'node:stream';
import { redact } from '../core/redact';
import type { Credentials } from './ens';

/**
 * The only file that invokes Function Compute: asynchronous invocations of the deployed
 * import function. Functions the fc3 component deploys are FC 3.0 functions, reached through
 * the 2023-03-30 API (@alicloud/fc20230330); FC 2.0 services through 2016-08-15 (@alicloud/fc2).
 */

export type FcApi = '2023-03-30' | '2016-08-15';

export interface FcTarget {
  api: FcApi;
  accountId: string;
  region: string;
  /** e.g. the local stack's `http://127.0.0.1:9102`; unset: `https://<account>.<region>.fc.aliyuncs.com` */
  endpoint?: string;
  credentials: Credentials;
  /** the FC 2.0 service (2016-08-15 only) */
  service?: string;
}

export interface FcInvoker {
  invokeAsync(functionName: string, payload: string): Promise<void>;
}

export class FcInvokeError extends Error {
  override name = 'FcInvokeError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** An FC SDK error as an FcInvokeError: its code, and its first line with the keys removed. */
function failWith(credentials: Credentials, fallbackCode: string): (err: unknown) => never {
  const secrets = [credentials.accessKeySecret, credentials.securityToken, credentials.accessKeyId];
  return (err) => {
    const e = err as { code?: string; message?: string };
    throw new FcInvokeError(e.code ?? fallbackCode, redact(String(e.message ?? err), secrets).split('\n')[0]!);
  };
}

export function createFcInvoker(t: FcTarget): FcInvoker {
  const fail = failWith(t.credentials, 'InvokeFailed');
  return t.api === '2016-08-15' ? fc2Invoker(t, fail) : fc3Invoker(t, fail);
}

// a CommonJS module compiled from TypeScript: under ESM the class is its `default` export
const FcClient = ((FC3 as unknown as { default?: typeof FC3 }).default ?? FC3) as typeof FC3;

function fc3Client(t: Omit<FcTarget, 'api' | 'service'>): FC3 {
  const url = new URL(t.endpoint ?? `https://${t.accountId}.${t.region}.fc.aliyuncs.com`);
  return new FcClient(
    new $OpenApiUtil.Config({
      accessKeyId: t.credentials.accessKeyId,
      accessKeySecret: t.credentials.accessKeySecret,
      ...(t.credentials.securityToken ? { securityToken: t.credentials.securityToken } : {}),
      endpoint: url.host,
      protocol: url.protocol.replace(':', ''),
      regionId: t.region,
    }),
  );
}

function fc3Invoker(t: FcTarget, fail: (err: unknown) => never): FcInvoker {
  const client = fc3Client(t);
  return {
    async invokeAsync(functionName, payload) {
      const request = new InvokeFunctionRequest({ body: Readable.from([Buffer.from(payload)]) });
      await client
        .invokeFunctionWithOptions(
          functionName,
          request,
          new InvokeFunctionHeaders({ xFcInvocationType: 'Async' }),
          new RuntimeOptions({ readTimeout: 30_000, connectTimeout: 10_000 }),
        )
        .catch(fail);
    },
  };
}

function fc2Invoker(t: FcTarget, fail: (err: unknown) => never): FcInvoker {
  const client = new FC2(t.accountId, {
    accessKeyID: t.credentials.accessKeyId,
    accessKeySecret: t.credentials.accessKeySecret,
    securityToken: t.credentials.securityToken,
    region: t.region,
    endpoint: t.endpoint,
    timeout: 30_000,
  });
  return {
    async invokeAsync(functionName, payload) {
      await client.invokeFunction(t.service ?? 'default', functionName, payload, { 'x-fc-invocation-type': 'Async' }).catch(fail);
    },
  };
}

/** What `ens-importer doctor` reads from FC 3.0: a function's role and its triggers. */
export interface FcInspector {
  functionRole(functionName: string): Promise<string | undefined>;
  triggers(
    functionName: string,
  ): Promise<{ triggerName: string; triggerType: string; sourceArn?: string; config: Record<string, unknown> }[]>;
}

export function createFcInspector(t: Omit<FcTarget, 'api' | 'service'>): FcInspector {
  const fail = failWith(t.credentials, 'FcError');
  const client = fc3Client(t);
  return {
    async functionRole(name) {
      const r = await client.getFunction(name, new GetFunctionRequest({})).catch(fail);
      return r.body?.role || undefined;
    },
    async triggers(name) {
      const r = await client.listTriggers(name, new ListTriggersRequest({ limit: 100 })).catch(fail);
      return (r.body?.triggers ?? []).map((x) => ({
        triggerName: x.triggerName ?? '',
        triggerType: x.triggerType ?? '',
        sourceArn: x.sourceArn,
        config: parseConfig(x.triggerConfig),
      }));
    },
  };
}

function parseConfig(text: string | undefined): Record<string, unknown> {
  try {
    return JSON.parse(text ?? '{}') as Record<string, unknown>;
  } catch {
    return {};
  }
}
