/**
 * RAM policy evaluation, as far as the stand-ins need it: Allow and Deny statements,
 * `*`/`?` wildcards in actions and resources, an explicit Deny winning, and the String
 * conditions on the request's context keys (`oss:Prefix` of a listing). As in RAM, a
 * condition on a key the request does not carry does not hold; an operator the stand-in
 * does not know is refused loudly rather than guessed.
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

/** the request's condition keys, e.g. `oss:Prefix` of a ListObjects */
export type RequestContext = Readonly<Record<string, string | undefined>>;

const OPERATORS: Record<string, (value: string, wanted: string) => boolean> = {
  StringEquals: (v, w) => v === w,
  StringNotEquals: (v, w) => v !== w,
  StringLike: (v, w) => glob(w, v, false),
  StringNotLike: (v, w) => !glob(w, v, false),
};

function conditionHolds(condition: unknown, context: RequestContext): boolean {
  if (condition === undefined) return true;
  return Object.entries(condition as Record<string, Record<string, string | string[]>>).every(([operator, keys]) => {
    const test = OPERATORS[operator];
    if (!test) throw new Error(`RAM stand-in: condition operator ${operator} is not evaluated here`);
    return Object.entries(keys).every(([key, wanted]) => {
      const value = context[key];
      return value !== undefined && list(wanted).some((w) => test(value, w));
    });
  });
}

const matches = (s: PolicyStatement, action: string, resource: string, context: RequestContext): boolean =>
  list(s.Action).some((a) => glob(a, action, true)) &&
  list(s.Resource).some((r) => glob(r, resource, false)) &&
  conditionHolds(s.Condition, context);

export function policyAllows(policies: readonly PolicyDocument[], action: string, resource: string, context: RequestContext = {}): boolean {
  const statements = policies.flatMap((p) => p.Statement);
  if (statements.some((s) => s.Effect === 'Deny' && matches(s, action, resource, context))) return false;
  return statements.some((s) => s.Effect === 'Allow' && matches(s, action, resource, context));
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
          : /^(UploadPart|UploadPartCopy|InitiateMultipartUpload|CompleteMultipartUpload|CopyObject)$/.test(operation)
            ? 'oss:PutObject'
            : `oss:${operation}`;
  return { action, resource: key ? `acs:oss:*:${account}:${bucket}/${key}` : `acs:oss:*:${account}:${bucket}` };
}
