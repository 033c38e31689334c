import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { renderTemplate } from '../local/fc/s-yaml';
import type { PolicyDocument } from '../local/ram-policy';

/**
 * The RAM policies, made from s.yaml's vars (region, bucket, prefix, state prefix) and its
 * function names, so an operator edits one file: `npm run policies` writes deploy/ram/, and a
 * test keeps the files equal to what s.yaml says.
 */

export interface PolicyInputs {
  region: string;
  bucket: string;
  prefix: string;
  statePrefix: string;
  functions: { import: string; convert: string; failed: string };
}

type Vars = Record<string, string>;

/** What the policies depend on, read from an s.yaml text as Serverless Devs renders it. */
export function policyInputs(sYamlText: string): PolicyInputs {
  const raw = parse(sYamlText) as { vars: Vars; resources: Record<string, { props?: { functionName?: string } }> };
  const vars = renderTemplate(raw.vars, {}, { AccountID: '*' }) as Vars;
  const resources = renderTemplate(raw.resources as never, vars, { AccountID: '*' }) as typeof raw.resources;
  const name = (resource: string): string => {
    const n = resources[resource]?.props?.functionName;
    if (!n) throw new Error(`s.yaml: resource ${resource} has no functionName`);
    return n;
  };
  return {
    region: String(vars.region),
    bucket: String(vars.bucket),
    prefix: String(vars.prefix),
    statePrefix: String(vars.stateprefix),
    functions: { import: name('import-image'), convert: name('convert-image'), failed: name('import-failed') },
  };
}

const allow = (Action: string[], Resource: string[], Condition?: object) => ({
  Effect: 'Allow' as const,
  Action,
  Resource,
  ...(Condition ? { Condition } : {}),
});

export function ramPolicies(i: PolicyInputs): Record<string, PolicyDocument> {
  const object = (path: string) => `acs:oss:*:*:${i.bucket}/${path}*`;
  const bucket = `acs:oss:*:*:${i.bucket}`;
  const fn = (name: string) => `acs:fc:${i.region}:*:functions/${name}`;
  const trust = (service: string): PolicyDocument => ({
    Version: '1',
    Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: [service] } } as never],
  });
  return {
    'function-policy.json': {
      Version: '1',
      Statement: [
        allow(['oss:GetObject', 'oss:GetObjectTagging', 'oss:PutObjectTagging'], [object('')]),
        allow(['oss:PutObject', 'oss:DeleteObject'], [object(i.statePrefix)]),
        allow(['oss:GetBucketVersioning'], [bucket]),
        allow(['oss:ListObjects'], [bucket], { StringLike: { 'oss:Prefix': [`${i.statePrefix}*`] } }),
        allow(['ens:ImportImage', 'ens:DescribeSelfImages', 'ens:DeleteImage'], ['*']),
        allow(['fc:InvokeFunction'], [fn(i.functions.failed), fn(i.functions.convert)]),
      ],
    },
    'converter-policy.json': {
      Version: '1',
      Statement: [
        allow(['oss:GetObject', 'oss:GetObjectTagging', 'oss:PutObjectTagging'], [object(i.prefix)]),
        allow(['oss:PutObject', 'oss:AbortMultipartUpload'], [object(i.prefix)]),
        allow(['oss:GetObject', 'oss:PutObject', 'oss:DeleteObject', 'oss:AbortMultipartUpload'], [object(i.statePrefix)]),
        allow(['oss:ListMultipartUploads', 'oss:GetBucketVersioning'], [bucket]),
        // a fan-out lists its workers' maps under the state prefix
        allow(['oss:ListObjects'], [bucket], { StringLike: { 'oss:Prefix': [`${i.statePrefix}*`] } }),
        // a big source fans out to more instances of the converter itself
        allow(['fc:InvokeFunction'], [fn(i.functions.failed), fn(i.functions.convert)]),
      ],
    },
    'trigger-policy.json': {
      Version: '1',
      Statement: [allow(['fc:InvokeFunction'], [fn(i.functions.import), fn(i.functions.convert)])],
    },
    'function-trust.json': trust('fc.aliyuncs.com'),
    'trigger-trust.json': trust('oss.aliyuncs.com'),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(import.meta.dirname, '..');
  const policies = ramPolicies(policyInputs(readFileSync(resolve(root, 's.yaml'), 'utf8')));
  for (const [file, doc] of Object.entries(policies)) {
    writeFileSync(resolve(root, 'deploy/ram', file), `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`deploy/ram/${file}`);
  }
}
