import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSYaml, type FunctionSpec } from '../../local/fc/s-yaml';
import { PROJECT_ROOT } from '../../local/index';
import { parseRules } from '../../shared/core/rules';
import { buildFunctions } from '../../scripts/build';
import { readImportConfig } from '../../shared/runtime/config';
import { policyAllows } from '../../local/ram-policy';
import { policyInputs, ramPolicies } from '../../scripts/ram-policies';

const require = createRequire(import.meta.url);
const sYamlPath = resolve(PROJECT_ROOT, 's.yaml');
let specs: FunctionSpec[];
const raw = parse(readFileSync(sYamlPath, 'utf8'));
const vars = raw.vars as Record<string, string>;
const statePrefix = vars.stateprefix!;
const policy = (name: string) => JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'deploy/ram', name), 'utf8'));

beforeAll(async () => {
  await buildFunctions();
  specs = loadSYaml(sYamlPath, { AccountID: '1234567890' });
});

/** s.yaml with one edit, loaded as the FC stand-in loads it */
function loadEdited(edit: (text: string) => string): () => FunctionSpec[] {
  const dir = mkdtempSync(join(tmpdir(), 's-yaml-'));
  const path = join(dir, 's.yaml');
  writeFileSync(path, edit(readFileSync(sYamlPath, 'utf8')));
  return () => {
    try {
      return loadSYaml(path, { AccountID: '1234567890' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe('what Serverless Devs and FC do with s.yaml (cloud-facts: Serverless Devs rendering, FC log segmentation)', () => {
  it("passes fc3's schema once rendered, and a bare vars reference to a number var in the environment is refused", () => {
    expect(specs.length).toBe(4);
    const numeric = loadEdited((t) =>
      // biome-ignore lint/suspicious/noTemplateCurlyInString: s.yaml's own ${vars.x} syntax, literally
      t.replace('IMPORTER_INSTANCES: ${vars.importinstances} instances', 'IMPORTER_INSTANCES: ${vars.importinstances}'),
    );
    expect(numeric).toThrow(/IMPORTER_INSTANCES must be string/);
  });

  it('deploys the on-failure destination before the functions that name it (file order)', () => {
    const names = specs.map((s) => s.functionName);
    for (const s of specs) if (s.onFailure) expect(names.indexOf(s.onFailure)).toBeLessThan(names.indexOf(s.functionName));
    const failedLast = loadEdited((t) => {
      const start = t.indexOf('  import-failed:');
      const end = t.indexOf('  import-image:');
      return t.slice(0, start) + t.slice(end) + t.slice(start, end);
    });
    expect(failedLast).toThrow(/must be a function defined above it/);
  });

  it('keeps one SLS entry per line: logBeginRule None on every function (fc3 makes plain auto DefaultRegex)', () => {
    for (const s of specs) expect(s.logBeginRule, s.functionName).toBe('None');
    expect(loadEdited((t) => t.replaceAll('auto|logBeginRule=None', 'auto'))()[0]!.logBeginRule).toBe('DefaultRegex');
  });
});

describe('s.yaml', () => {
  it('is Serverless Devs 3 with fc3 nodejs20 functions whose handler exists in dist/ after a build', () => {
    expect(raw.edition).toBe('3.0.0');
    expect(specs.map((s) => s.functionName).sort()).toEqual([
      'ens-convert-image',
      'ens-import-failed',
      'ens-import-image',
      'ens-track-imports',
    ]);
    for (const s of specs) {
      expect(s.runtime).toBe('nodejs20');
      const [file, fn] = s.handler.split('.');
      const bundle = resolve(PROJECT_ROOT, s.code, `${file}.js`);
      expect(existsSync(bundle), bundle).toBe(true);
      const mod = require(bundle);
      expect(typeof mod[fn!]).toBe('function');
      expect(raw.resources[s.resource].props.logConfig).toBe('auto|logBeginRule=None');
    }
    const imp = raw.resources['import-image'].props;
    expect(imp.asyncInvokeConfig.maxAsyncRetryAttempts).toBeGreaterThanOrEqual(1);
    expect(imp.timeout).toBeGreaterThanOrEqual(60);
  });

  it('gives each function resources FC 3.0 accepts: memory, vCPU and disk tied as the fc3 schema says', () => {
    for (const [name, r] of Object.entries(raw.resources as Record<string, { props: Record<string, unknown> }>)) {
      const { memorySize, cpu, diskSize } = r.props as { memorySize: number; cpu: number; diskSize: number };
      expect(
        Number.isInteger(memorySize) && memorySize % 64 === 0 && memorySize >= 128 && memorySize <= 32768,
        `${name} memorySize ${memorySize}`,
      ).toBe(true);
      expect(cpu >= 0.05 && cpu <= 16 && Math.abs(Math.round(cpu / 0.05) * 0.05 - cpu) < 1e-9, `${name} cpu ${cpu}`).toBe(true);
      const gbPerCpu = memorySize / 1024 / cpu;
      expect(
        gbPerCpu >= 1 && gbPerCpu <= 4,
        `${name}: ${memorySize} MB for ${cpu} vCPU is ${gbPerCpu} GB per vCPU, FC 3.0 wants 1 to 4`,
      ).toBe(true);
      expect([512, 10240], `${name} diskSize`).toContain(diskSize);
    }
  });

  it('caps the import function at the instances its pacing assumes (fc3 concurrencyConfig), and bounds V8 under 128 MB', () => {
    const spec = specs.find((s) => s.functionName === 'ens-import-image')!;
    expect(spec.reservedConcurrency).toBeGreaterThan(0);
    // each instance spaces its ImportImage calls by instances/qps: the cap must be that count
    const config = readImportConfig(spec.environmentVariables, PROJECT_ROOT);
    expect(config.instances).toBe(spec.reservedConcurrency);
    expect(config.ensImportQps).toBeGreaterThan(0);
    for (const s of specs) {
      const heap = /--max-old-space-size=(\d+)/.exec(s.environmentVariables.NODE_OPTIONS ?? '');
      expect(heap && Number(heap[1]) < s.memorySize, `${s.functionName}: V8's heap bound under memorySize`).toBe(true);
    }
  });

  it('sets the environment design.md names', () => {
    const env = specs.find((s) => s.functionName === 'ens-import-image')!.environmentVariables;
    expect(Object.keys(env).sort()).toEqual([
      'ENS_ENDPOINT',
      'IMPORTER_CONVERTER_FUNCTION',
      'IMPORTER_DRY_RUN',
      'IMPORTER_ENS_IMPORT_QPS',
      'IMPORTER_INSTANCES',
      'IMPORTER_MANIFEST_WAIT_MINUTES',
      'IMPORTER_NOTIFY_SECRET',
      'IMPORTER_NOTIFY_WEBHOOK',
      'IMPORTER_STATE_KEY',
      'IMPORTER_STATE_KEY_PREVIOUS',
      'IMPORTER_STATE_PREFIX',
      'IMPORTER_WATCHED_PREFIX',
      'NODE_OPTIONS',
    ]);
    // the manifest confinement follows the trigger's own prefix
    expect(env.IMPORTER_WATCHED_PREFIX).toBe(vars.prefix);
    // a .img that is not qcow2 goes to a function this file deploys
    expect(specs.map((s) => s.functionName)).toContain(env.IMPORTER_CONVERTER_FUNCTION);
    for (const k of Object.keys(env)) expect(k.startsWith('FC_')).toBe(false);
    expect(JSON.stringify(env).length).toBeLessThan(4096);
  });

  it('subscribes the import triggers (images and manifests) to exactly PutObject, PostObject, CompleteMultipartUpload and CopyObject (and the .qcow2 one to its deletes)', () => {
    const triggers = specs.flatMap((s) => s.ossTriggers);
    expect(triggers.map((t) => t.suffix).sort()).toEqual(['.ens-image.json', '.img', '.ova', '.qcow2', '.raw', '.vhd', '.vhdx', '.vmdk']);
    const created = [
      'oss:ObjectCreated:CompleteMultipartUpload',
      'oss:ObjectCreated:CopyObject',
      'oss:ObjectCreated:PostObject',
      'oss:ObjectCreated:PutObject',
    ];
    const removed = ['oss:ObjectRemoved:DeleteObject', 'oss:ObjectRemoved:DeleteObjects'];
    for (const t of triggers) expect([...t.events].sort()).toEqual(t.suffix === '.qcow2' ? [...created, ...removed] : created);
    expect(JSON.stringify(raw)).not.toContain('ObjectCreated:*');
    // two triggers on one bucket must not overlap: OSS refuses that
    for (const a of triggers)
      for (const b of triggers) if (a !== b) expect(a.suffix!.endsWith(b.suffix!), `${a.name} overlaps ${b.name}`).toBe(false);
  });

  it.each([0, 1, 2, 3, 4, 5, 6, 7])('cannot trigger on its own state objects (no loop), trigger %i', (i) => {
    const t = specs.flatMap((s) => s.ossTriggers)[i]!;
    expect(specs.flatMap((s) => s.ossTriggers)).toHaveLength(8);
    const prefix = t.prefix ?? '';
    const suffix = t.suffix ?? '';
    const stateKeys = [
      `${statePrefix}claims/ab.json`,
      `${statePrefix}claims/ab.json.g1`,
      `${statePrefix}pending/m-ab~cd`,
      `${statePrefix}waiting/ab.json`,
      `${statePrefix}tracker.lock`,
    ];
    expect(stateKeys.filter((k) => k.startsWith(prefix) && k.endsWith(suffix))).toEqual([]);
    // and no state key could ever match: the prefixes are disjoint
    expect(statePrefix.startsWith(prefix) || prefix.startsWith(statePrefix)).toBe(false);
    expect(prefix.length).toBeGreaterThan(0);
  });

  it("keeps every rule of importer.yaml inside the trigger's prefix and suffix", () => {
    const triggers = specs.flatMap((s) => s.ossTriggers);
    const rules = parseRules(readFileSync(resolve(PROJECT_ROOT, 'importer.yaml'), 'utf8'));
    for (const r of rules.rules) {
      const covering = triggers.filter(
        (t) => (r.prefix ?? '').startsWith(t.prefix ?? '') && (!t.suffix || (r.suffix ?? '').endsWith(t.suffix)),
      );
      expect(covering.length, `rule ${r.name}: no trigger delivers its keys`).toBeGreaterThan(0);
    }
  });

  it('renders offline with `s preview`', () => {
    const home = mkdtempSync(join(tmpdir(), 's-home-'));
    try {
      const out = execFileSync(resolve(PROJECT_ROOT, 'node_modules/.bin/s'), ['preview', '-t', 's.yaml'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, HOME: home, CI: 'true' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(out).toContain('ens-import-image');
      expect(out).toContain('ens-track-imports');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('RAM policies', () => {
  it('are made from s.yaml (npm run policies): the files equal what its vars and function names give', () => {
    const text = readFileSync(sYamlPath, 'utf8');
    for (const [file, doc] of Object.entries(ramPolicies(policyInputs(text)))) expect(policy(file), file).toEqual(doc);
    // an operator who edits only the vars gets policies for their bucket, prefixes and region
    const edited = text
      .replace('bucket: ens-images', 'bucket: acme-images')
      .replace('region: cn-beijing', 'region: cn-hangzhou')
      .replace('stateprefix: .ens-importer/', 'stateprefix: .state/');
    const made = JSON.stringify(ramPolicies(policyInputs(edited)));
    expect(made).not.toMatch(/ens-images|cn-beijing|\.ens-importer/);
    expect(made).toContain('acs:oss:*:*:acme-images/.state/*');
    expect(made).toContain('acs:fc:cn-hangzhou:*:functions/ens-import-failed');
  });

  it("confine the functions' listing to the state prefix, as RAM evaluates oss:Prefix", () => {
    const shipped = [policy('function-policy.json')];
    const bucketArn = `acs:oss:*:*:${vars.bucket}`;
    expect(policyAllows(shipped, 'oss:ListObjects', bucketArn, { 'oss:Prefix': `${statePrefix}pending/` })).toBe(true);
    expect(policyAllows(shipped, 'oss:ListObjects', bucketArn, { 'oss:Prefix': vars.prefix })).toBe(false);
    // a listing without a prefix carries none: the condition does not hold
    expect(policyAllows(shipped, 'oss:ListObjects', bucketArn, {})).toBe(false);
  });

  const bucket = vars.bucket!;
  it('name no wildcard action and no OSS resource outside the bucket; writes only under the state prefix', () => {
    for (const file of ['function-policy.json', 'trigger-policy.json']) {
      for (const st of policy(file).Statement) {
        for (const a of [st.Action].flat()) expect(a, file).not.toMatch(/\*/);
        const resources = [st.Resource].flat() as string[];
        const actions = [st.Action].flat() as string[];
        if (actions.every((a) => a.startsWith('ens:'))) {
          expect(resources).toEqual(['*']); // ENS has no resource-level permission
          continue;
        }
        for (const r of resources) {
          if (r.startsWith('acs:oss:')) expect(r === `acs:oss:*:*:${bucket}` || r.startsWith(`acs:oss:*:*:${bucket}/`), r).toBe(true);
          // the trigger invokes the import function; the import function its on-failure destination
          else
            expect(r).toMatch(
              file === 'trigger-policy.json'
                ? /^acs:fc:[^:]+:\*:functions\/(ens-import-image|ens-convert-image)$/
                : /^acs:fc:[^:]+:\*:functions\/(ens-import-failed|ens-convert-image)$/,
            );
        }
        if (actions.some((a) => ['oss:PutObject', 'oss:DeleteObject'].includes(a))) {
          for (const r of resources) expect(r).toBe(`acs:oss:*:*:${bucket}/${statePrefix}*`);
        }
      }
    }
  });

  it('grant exactly what the functions call', () => {
    const actions = policy('function-policy.json')
      .Statement.flatMap((s: any) => [s.Action].flat())
      .sort();
    expect(actions).toEqual([
      'ens:DeleteImage',
      'ens:DescribeSelfImages',
      'ens:ImportImage',
      'fc:InvokeFunction',
      'oss:DeleteObject',
      'oss:GetBucketVersioning',
      'oss:GetObject',
      'oss:GetObjectTagging',
      'oss:ListObjects',
      'oss:PutObject',
      'oss:PutObjectTagging',
    ]);
    expect(policy('trigger-policy.json').Statement.flatMap((s: any) => [s.Action].flat())).toEqual(['fc:InvokeFunction']);
    expect(policy('function-trust.json').Statement[0].Principal.Service).toEqual(['fc.aliyuncs.com']);
    expect(policy('trigger-trust.json').Statement[0].Principal.Service).toEqual(['oss.aliyuncs.com']);
  });

  it('give the converter its own role: it writes under the watched prefix (its qcow2s), the others never do', () => {
    const converter = specs.find((s) => s.functionName === 'ens-convert-image')!;
    expect(converter.role).toMatch(/:role\/ens-importer-converter$/);
    for (const s of specs) if (s !== converter) expect(s.role).toMatch(/:role\/ens-importer-function$/);
    expect(converter.ossTriggers.map((t) => t.suffix).sort()).toEqual(['.ova', '.raw', '.vhd', '.vhdx', '.vmdk']);
    const statements = policy('converter-policy.json').Statement as { Action: string[]; Resource: string[] }[];
    expect(statements.flatMap((s) => s.Action).sort()).toEqual([
      'fc:InvokeFunction',
      'oss:AbortMultipartUpload',
      // a fan-out worker's data upload under the state prefix, and the listing of its folder
      'oss:AbortMultipartUpload',
      'oss:DeleteObject',
      'oss:GetBucketVersioning',
      'oss:GetObject',
      'oss:GetObject',
      'oss:GetObjectTagging',
      'oss:ListMultipartUploads',
      'oss:ListObjects',
      'oss:PutObject',
      'oss:PutObject',
      'oss:PutObjectTagging',
    ]);
    for (const s of statements)
      for (const r of s.Resource)
        expect([
          `acs:oss:*:*:${bucket}`,
          `acs:oss:*:*:${bucket}/${vars.prefix}*`,
          `acs:oss:*:*:${bucket}/${statePrefix}*`,
          // FC sends a conversion it gave up on to the on-failure function with the converter's role
          'acs:fc:cn-beijing:*:functions/ens-import-failed',
          // a big source fans out to the converter itself
          'acs:fc:cn-beijing:*:functions/ens-convert-image',
        ]).toContain(r);
    // it lists only the state prefix (its fan-out folders)
    const listing = statements.find((s) => s.Action.includes('oss:ListObjects')) as { Condition?: unknown } | undefined;
    expect(listing?.Condition).toEqual({ StringLike: { 'oss:Prefix': [`${statePrefix}*`] } });
    expect(converter.onFailure).toBe('ens-import-failed');
    // deletes only its own state (lease markers), never an upload
    for (const s of statements)
      if (s.Action.includes('oss:DeleteObject')) expect(s.Resource).toEqual([`acs:oss:*:*:${bucket}/${statePrefix}*`]);
  });
});
