/**
 * RAM policy evaluation, as far as the stand-ins need it: Allow and Deny statements,
 * `*`/`?` wildcards in actions and resources, an explicit Deny winning. Conditions are not
 * evaluated (a statement with one applies as if it held); the real RAM evaluates them.
 */

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: string | string[];
  Condition?: unknown;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? ['*'] : Array.isArray(v) ? v : [v]);

function glob(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, caseInsensitive ? 'i' : '').test(value);
}

const matches = (s: PolicyStatement, action: string, resource: string): boolean =>
  list(s.Action).some((a) => glob(a, action, true)) && list(s.Resource).some((r) => glob(r, resource, false));

export function policyAllows(policies: readonly PolicyDocument[], action: string, resource: string): boolean {
  const statements = policies.flatMap((p) => p.Statement);
  if (statements.some((s) => s.Effect === 'Deny' && matches(s, action, resource))) return false;
  return statements.some((s) => s.Effect === 'Allow' && matches(s, action, resource));
}

/** The RAM action and resource an OSS stand-in operation is authorised as. */
export function ossAuthorization(operation: string, account: string, bucket: string, key: string): { action: string; resource: string } {
  const action =
    operation === 'HeadObject'
      ? 'oss:GetObject'
      : operation === 'ListObjectsV2'
        ? 'oss:ListObjects'
        : operation === 'PutBucketPolicy' || operation === 'DeleteBucketPolicy' || operation === 'GetBucketPolicy'
          ? `oss:${operation}`
          : /^(UploadPart|InitiateMultipartUpload|CompleteMultipartUpload|CopyObject)$/.test(operation)
            ? 'oss:PutObject'
            : `oss:${operation}`;
  return { action, resource: key ? `acs:oss:*:${account}:${bucket}/${key}` : `acs:oss:*:${account}:${bucket}` };
}
