import OSS from 'ali-oss';
import RPCClient from '@alicloud/pop-core';
import type { AccessKey, LocalStack } from '../../local/index';

/** ali-oss pointed at the stand-in, exactly as an operator's script would build it. */
export function ossClient(stack: LocalStack, opts: { v4?: boolean; key?: AccessKey; bucket?: string; region?: string } = {}): any {
  const key = opts.key ?? stack.credentials;
  return new OSS({
    region: `oss-${opts.region ?? stack.region}`,
    bucket: opts.bucket ?? stack.bucket,
    endpoint: stack.endpoints.oss,
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    ...(key.securityToken ? { stsToken: key.securityToken, refreshSTSTokenInterval: 3_600_000 } : {}),
    authorizationV4: opts.v4 ?? true,
    timeout: 30_000,
  } as OSS.Options);
}

export function ensClient(stack: LocalStack, key: AccessKey = stack.credentials): RPCClient {
  return new RPCClient({
    endpoint: stack.endpoints.ens,
    apiVersion: '2017-11-10',
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    ...(key.securityToken ? { securityToken: key.securityToken } : {}),
    codes: [0, '0'],
  } as RPCClient.Config);
}
