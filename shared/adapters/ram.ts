import RPCClient from '@alicloud/pop-core';
import { redact } from '../core/redact';
import type { Credentials } from './ens';

/** RAM reads (POP RPC 2015-05-01): the policies attached to a role, for `ens-importer doctor`. */

export interface RolePolicies {
  roleName: string;
  /** each attached policy's default version, parsed */
  documents: unknown[];
}

export class RamCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RamCallError';
  }
}

export async function readRolePolicies(endpoint: string, credentials: Credentials, roleName: string): Promise<RolePolicies> {
  const client = new RPCClient({
    endpoint,
    apiVersion: '2015-05-01',
    accessKeyId: credentials.accessKeyId,
    accessKeySecret: credentials.accessKeySecret,
    ...(credentials.securityToken ? { securityToken: credentials.securityToken } : {}),
  } as RPCClient.Config);
  const secrets = [credentials.accessKeySecret, credentials.securityToken, credentials.accessKeyId];
  const call = async <T>(action: string, params: Record<string, string>): Promise<T> => {
    try {
      return (await client.request(action, params, { method: 'POST', timeout: 10_000 })) as T;
    } catch (err) {
      const e = err as { code?: string; message?: string; data?: { Message?: string } };
      throw new RamCallError(e.code ?? 'RamError', redact(String(e.data?.Message ?? e.message ?? err), secrets).replace(/, URL: \S+/, ''));
    }
  };
  const listed = await call<{ Policies?: { Policy?: { PolicyName: string; PolicyType: string }[] } }>('ListPoliciesForRole', {
    RoleName: roleName,
  });
  const documents: unknown[] = [];
  for (const p of listed.Policies?.Policy ?? []) {
    const got = await call<{ DefaultPolicyVersion?: { PolicyDocument?: string } }>('GetPolicy', {
      PolicyName: p.PolicyName,
      PolicyType: p.PolicyType,
    });
    const text = got.DefaultPolicyVersion?.PolicyDocument;
    if (text) documents.push(JSON.parse(text));
  }
  return { roleName, documents };
}
