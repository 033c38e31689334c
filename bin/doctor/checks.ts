import { createEnsApi, type Credentials } from '../../shared/adapters/ens';
import type { FcInspector } from '../../shared/adapters/fc';
import { fcInspectorOnDemand } from '../fc-on-demand';
import { createObjectStore, type OssCallError } from '../../shared/adapters/oss';
import { readBucketPolicy } from '../../shared/adapters/oss-bucket';
import { readRolePolicies } from '../../shared/adapters/ram';
import { CONVERTER_ACTIONS, FUNCTION_ACTIONS } from '../../shared/core/permission';
import type { Rules } from '../../shared/core/rules';
import type { DeclaredFunction } from '../deployment';

/** One line of `ens-importer doctor`: what was checked, what was found, what to do. */
export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorInput {
  region: string;
  bucket: string;
  statePrefix: string;
  credentials: Credentials;
  ossEndpoint?: string;
  ensEndpoint: string;
  ramEndpoint: string;
  fc: { accountId: string; endpoint?: string } | undefined;
  functions: DeclaredFunction[];
  rules: { rules?: Rules; error?: string; source?: string };
}

const pass = (check: string, detail: string): CheckResult => ({ check, ok: true, detail });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, ok: false, detail, fix });

/** Credentials, bucket, its region and versioning: one GetBucketVersioning answers all four. */
export async function checkBucket(d: DoctorInput, allowedRegions: readonly string[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const regionOk = allowedRegions.includes(d.region);
  const store = createObjectStore({ region: d.region, bucket: d.bucket, endpoint: d.ossEndpoint, credentials: d.credentials });
  try {
    const versioning = await store.getVersioning();
    out.push(pass('credentials', `accepted by OSS (${d.credentials.accessKeyId.slice(0, 6)}…)`));
    out.push(pass('bucket', `${d.bucket} exists in ${d.region}`));
    out.push(
      versioning
        ? fail('versioning', `versioning is ${versioning}`, 'use a bucket that never had versioning: OSS ignores forbid-overwrite there')
        : pass('versioning', 'off'),
    );
  } catch (err) {
    const e = err as OssCallError;
    if (/InvalidAccessKeyId|SignatureDoesNotMatch|InvalidSecurityToken/.test(e.code) || /security token/.test(e.message))
      out.push(fail('credentials', `${e.code}: ${e.message}`, 'check the AccessKey (env, --profile) or the role'));
    else if (e.code === 'NoSuchBucket') out.push(fail('bucket', `${d.bucket} does not exist`, 'create it, or fix vars.bucket in s.yaml'));
    else if (/endpoint/i.test(e.message))
      out.push(fail('bucket', `${d.bucket} is not in ${d.region}: ${e.message}`, 'give --region the bucket’s region'));
    else if (failureKind(e) === 'network') out.push(fail('bucket', described(e), 'check OSS_ENDPOINT (or --region) and the network'));
    else if (failureKind(e) === 'permission') out.push(fail('bucket', described(e), 'grant oss:GetBucketVersioning on the bucket'));
    else out.push(fail('bucket', `${e.code}: ${e.message}`, 'see the message; doctor could not read the bucket'));
  }
  out.push(
    regionOk
      ? pass('region', `${d.region} is an allowed OSSRegion`)
      : fail(
          'region',
          `${d.region} is not among the allowed OSSRegions (${allowedRegions.join(', ')})`,
          'ImportImage reads from those regions only',
        ),
  );
  return out;
}

const glob = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  ).test(value);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);

/** Uploaders must not write the importer's state: a Deny on the state prefix in the bucket policy. */
export async function checkStatePolicy(d: DoctorInput): Promise<CheckResult> {
  const name = 'state-prefix policy';
  const fix = 'put deploy/bucket-policy.json (with your uploaders’ UIDs) on the bucket';
  let policy: unknown;
  try {
    policy = await readBucketPolicy({ region: d.region, bucket: d.bucket, endpoint: d.ossEndpoint, credentials: d.credentials });
  } catch (err) {
    return failureKind(err) === 'network'
      ? fail(name, described(err), 'check OSS_ENDPOINT and the network')
      : fail(name, `could not read the bucket policy: ${described(err)}`, 'grant oss:GetBucketPolicy to whoever runs doctor');
  }
  if (!policy) return fail(name, 'the bucket has no policy', fix);
  const probe = `acs:oss:*:*:${d.bucket}/${d.statePrefix}probe`;
  const statements = list((policy as { Statement?: unknown }).Statement).length
    ? ((policy as { Statement: object[] }).Statement as object[])
    : [];
  const denies = statements.filter((s) => {
    const st = s as { Effect?: string; Action?: unknown; Resource?: unknown };
    return st.Effect === 'Deny' && list(st.Action).some((a) => glob(a, 'oss:PutObject')) && list(st.Resource).some((r) => glob(r, probe));
  });
  if (!denies.length) return fail(name, `nothing denies PutObject under ${d.statePrefix}`, fix);
  const principals = denies.flatMap((s) => list((s as { Principal?: unknown }).Principal));
  if (principals.includes('*'))
    return fail(
      name,
      `Principal "*" denies the functions too: they could not write their records`,
      'list the uploaders’ UIDs instead of *',
    );
  const placeholders = principals.filter((p) => !PRINCIPAL.test(p));
  if (placeholders.length)
    return fail(name, `the Deny names ${placeholders.join(', ')}, which is no account or RAM user: it protects nothing`, fix);
  return pass(name, `PutObject under ${d.statePrefix} is denied to ${principals.length} uploader principal(s)`);
}

/** an account or RAM user UID, or an ARN: anything else (UPLOADER_UID_1) is a placeholder */
const PRINCIPAL = /^(\d{6,}|\d{6,}:\d{6,}|acs:.+|arn:.+)$/;

/** What kind of failure an error is: an operator fixes a network and a permission differently. */
export function failureKind(err: unknown): 'network' | 'permission' | 'other' {
  const e = err as { code?: string; name?: string; status?: number; message?: string; cause?: { code?: string } };
  const code = `${e.code ?? ''} ${e.name ?? ''} ${e.cause?.code ?? ''}`;
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ConnectionTimeout|ResponseTimeout|RequestError|timeout/i.test(code)
  )
    return 'network';
  if (e.status === 403 || /AccessDenied|Forbidden|NoPermission|NotAuthorized/.test(code)) return 'permission';
  return 'other';
}

const described = (err: unknown): string => {
  const kind = failureKind(err);
  const text = `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
  return kind === 'network'
    ? `network: could not reach the service (${text})`
    : kind === 'permission'
      ? `permission refused (${text})`
      : text;
};

/** Every OSS trigger s.yaml declares, deployed with the same events, prefix and suffix (FC 3.0 ListTriggers). */
export async function checkTriggers(d: DoctorInput, fc: FcInspector): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const spec of d.functions.filter((f) => f.ossTriggers.length)) {
    let deployed: Awaited<ReturnType<FcInspector['triggers']>>;
    try {
      deployed = await fc.triggers(spec.functionName);
    } catch (err) {
      out.push(fail(`triggers of ${spec.functionName}`, (err as Error).message, 'deploy with s deploy'));
      continue;
    }
    for (const want of spec.ossTriggers) {
      const name = `trigger ${want.name}`;
      const got = deployed.find((t) => t.triggerName === want.name && t.triggerType === 'oss');
      if (!got) {
        out.push(fail(name, `missing on ${spec.functionName}`, 's deploy (or add it in the FC console)'));
        continue;
      }
      const cfg = got.config as { events?: string[]; filter?: { key?: { prefix?: string; suffix?: string } } };
      const problems = [
        ...want.events.filter((e) => !(cfg.events ?? []).includes(e)).map((e) => `event ${e} missing`),
        ...((cfg.filter?.key?.prefix || undefined) !== want.prefix
          ? [`prefix is "${cfg.filter?.key?.prefix ?? ''}", not "${want.prefix ?? ''}"`]
          : []),
        ...((cfg.filter?.key?.suffix || undefined) !== want.suffix
          ? [`suffix is "${cfg.filter?.key?.suffix ?? ''}", not "${want.suffix ?? ''}"`]
          : []),
      ];
      out.push(
        problems.length
          ? fail(name, problems.join('; '), 's deploy with the s.yaml in this folder')
          : pass(name, `${want.events.length} events, ${want.prefix ?? ''}*${want.suffix ?? ''}`),
      );
    }
  }
  return out;
}

/** Whose role holds what: the import function's for every function but the converter, which has its own. */
const ROLES = [
  { name: 'function role', fn: 'ens-import-image', actions: [...FUNCTION_ACTIONS, 'fc:InvokeFunction'], policy: 'function-policy.json' },
  { name: 'converter role', fn: 'ens-convert-image', actions: [...CONVERTER_ACTIONS], policy: 'converter-policy.json' },
];

export async function checkRoles(d: DoctorInput, fc: FcInspector): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const r of ROLES) if (d.functions.some((f) => f.functionName === r.fn)) out.push(await checkRole(d, fc, r));
  return out;
}

/** A function's role holds every action it makes. */
async function checkRole(d: DoctorInput, fc: FcInspector, r: (typeof ROLES)[number]): Promise<CheckResult> {
  const { name, fn, actions, policy } = r;
  try {
    const arn = await fc.functionRole(fn);
    const role = arn?.split('role/')[1];
    if (!role) return fail(name, `${fn} has no role`, `set role: in s.yaml (deploy/ram/${policy})`);
    const { documents } = await readRolePolicies(d.ramEndpoint, d.credentials, role);
    const allows = (action: string) =>
      documents.some((doc) =>
        list((doc as { Statement?: unknown }).Statement).length
          ? ((doc as { Statement: { Effect?: string; Action?: unknown }[] }).Statement ?? []).some(
              (s) => s.Effect === 'Allow' && list(s.Action).some((a) => glob(a, action)),
            )
          : false,
      );
    const missing = actions.filter((a) => !allows(a));
    return missing.length
      ? fail(name, `role ${role} lacks ${missing.join(', ')}`, `attach deploy/ram/${policy} to the role`)
      : pass(name, `role ${role} holds all ${actions.length} actions`);
  } catch (err) {
    return fail(name, (err as Error).message, 'whoever runs doctor needs fc:GetFunction and ram:ListPoliciesForRole/GetPolicy');
  }
}

export async function checkEns(d: DoctorInput): Promise<CheckResult> {
  try {
    const r = await createEnsApi(d.ensEndpoint, d.credentials).describeSelfImages({ PageSize: 1 }, 10_000);
    return pass('ENS', `reachable (${r.totalCount} images in the account)`);
  } catch (err) {
    const kind = failureKind(err);
    const fixes = { network: 'check ENS_ENDPOINT and the network', permission: 'grant ens:DescribeSelfImages', other: 'see the message' };
    return fail('ENS', described(err), fixes[kind]);
  }
}

export function checkRules(d: DoctorInput): CheckResult {
  return d.rules.error
    ? fail('rules', d.rules.error, 'fix importer.yaml (ens-importer plan shows what a key would get)')
    : pass('rules', `${d.rules.source ?? 'built-in'} parses`);
}

export function fcInspectorFor(d: DoctorInput, region: string): FcInspector | undefined {
  return d.fc ? fcInspectorOnDemand({ accountId: d.fc.accountId, region, endpoint: d.fc.endpoint, credentials: d.credentials }) : undefined;
}
