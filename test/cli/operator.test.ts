import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { watchedSuffixes } from '../../bin/commands/status';
import { ALL_WATCHED_SUFFIXES } from '../../shared/lifecycle/job-of';

/** The operator's day: why, retry, status filters, plan on a real object, doctor, --profile, --version, | head. */

let stack: LocalStack;
let oss: any;
const prefix = 'images/ubuntu/22.04/';
const url = (key: string) => `oss://${stack.bucket}/${key}`;

beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20, maxAsyncRetryAttempts: 0 });
  oss = ossClient(stack);
  await oss.put(`${prefix}good.qcow2`, fixture('v3.qcow2'));
  await oss.put(`${prefix}bad.qcow2`, fixture('raw-disk.qcow2'));
  await stack.settle();
  stack.ens.faults.inject('ImportImage', { status: 503, code: 'ServiceUnavailable', times: 4 });
  await oss.put(`${prefix}unlucky.qcow2`, fixture('v2.qcow2'));
  await stack.settle();
});
afterAll(() => stack.stop());

function cli(
  args: string[],
  env: Record<string, string | undefined> = {},
  shell?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...stack.operatorEnv(),
    ...env,
  };
  const bin = resolve(PROJECT_ROOT, 'bin/ens-importer.mjs');
  const [file, argv] = shell
    ? ['/bin/sh', ['-c', `"${process.execPath}" "${bin}" ${args.join(' ')} ${shell}`]]
    : [process.execPath, [bin, ...args]];
  return new Promise((done) => {
    execFile(file, argv as string[], { cwd: PROJECT_ROOT, env: base as NodeJS.ProcessEnv, timeout: 120_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('why', () => {
  it('tells an imported object’s story: tags, record with sources, verdict, SLS query', async () => {
    const r = await cli(['why', url(`${prefix}good.qcow2`), '--json']);
    expect(r.code).toBe(0);
    const story = JSON.parse(r.stdout);
    expect(story).toMatchObject({ status: 'importing', record: { state: 'importing', attempt: 1 }, verdict: { verdict: 'import' } });
    expect(story.record.params.ImageName).toEqual({ value: 'good', source: 'convention' });
    expect(story.sls.query).toContain(`${prefix}good.qcow2`);
    const text = await cli(['why', url(`${prefix}bad.qcow2`)]);
    expect(text.stdout).toMatch(/status: rejected/);
    // the remedy comes from the one taxonomy of codes
    expect(text.stdout).toMatch(/what to do: convert it \(ens-importer convert/);
    expect(text.stdout).toMatch(/verdict now: reject/);
  });

  it('says so for an object that does not exist (exit 1)', async () => {
    const r = await cli(['why', url(`${prefix}nothing.qcow2`)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/no such object/);
  });
});

describe('status', () => {
  it('filters by outcome and age, shows the reason, and lists every suffix s.yaml watches', async () => {
    await oss.put(`${prefix}pair.ens-image.json`, Buffer.from('{"disks": []}'));
    await stack.settle();
    const all = JSON.parse((await cli(['status', url(prefix), '--json'])).stdout);
    expect(all.objects.map((o: { key: string }) => o.key)).toContain(`${prefix}pair.ens-image.json`);
    const failed = JSON.parse((await cli(['status', url(''), '--prefix', prefix, '--failed', '--json'])).stdout);
    expect(failed.objects.map((o: { key: string }) => o.key)).toEqual([`${prefix}unlucky.qcow2`]);
    expect(failed.objects[0].reason).toMatch(/^ServiceUnavailable: FC gave up/);
    const rejected = await cli(['status', url(prefix), '--rejected']);
    expect(rejected.stdout).toMatch(/bad\.qcow2\s+rejected/);
    expect(rejected.stdout).not.toMatch(/good\.qcow2/);
    const none = JSON.parse((await cli(['status', url(prefix), '--since', '0s', '--json'])).stdout);
    expect(none.total).toBe(0);
    expect((await cli(['status', url(prefix), '--since', 'yesterday'])).code).toBe(2);
  });

  it('survives | head, and prints its version', async () => {
    const r = await cli(['status', url(prefix)], {}, '| head -1');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
    const v = await cli(['--version']);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')).version);
  });
});

describe('plan on a real object', () => {
  it('reads its head and metadata: import for a good one, rejected (exit 3) for a raw disk', async () => {
    await oss.put(`${prefix}meta.qcow2`, fixture('v3.qcow2'), { meta: { 'ens-os-version': '22.04.3' } });
    const good = await cli(['plan', url(`${prefix}meta.qcow2`), '--json']);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ verdict: 'import', params: { OSVersion: { value: '22.04.3', source: 'metadata' } } });
    const bad = await cli(['plan', url(`${prefix}bad.qcow2`)]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/would be rejected/);
  });
});

describe('status outside the clone', () => {
  it('lists every suffix a deployment can watch, never silently what a nearby s.yaml says (or its absence)', () => {
    const here = process.cwd();
    process.chdir(mkdtempSync(join(tmpdir(), 'elsewhere-')));
    try {
      expect(watchedSuffixes(undefined)).toEqual(ALL_WATCHED_SUFFIXES);
      expect(() => watchedSuffixes('s.yaml')).toThrow(/no such file/);
    } finally {
      process.chdir(here);
    }
    expect(watchedSuffixes(resolve(PROJECT_ROOT, 's.yaml'))).toEqual(expect.arrayContaining(['.qcow2', '.vhd', '.ova']));
  });
});

describe('retry', () => {
  it('never retries an imported object (exit 4); retries a failed one in process, and through the function', async () => {
    const done = await cli(['retry', url(`${prefix}good.qcow2`), '--via', 'local']);
    expect(done.code).toBe(4);
    expect(done.stdout).toMatch(/^skipped .*already importing/);
    const local = JSON.parse((await cli(['retry', url(`${prefix}unlucky.qcow2`), '--via', 'local', '--json'])).stdout);
    expect(local.results[0]).toMatchObject({ outcome: 'imported' });
    // --failed leaves rejections alone (they would fail the same way) unless asked
    const failedOnly = JSON.parse((await cli(['retry', '--failed', '--prefix', url(prefix), '--json'])).stdout);
    expect(failedOnly.results.map((l: { key: string }) => l.key)).not.toContain(`${prefix}bad.qcow2`);
    // a rejected one through the function: a fresh attempt with a new upload id
    const queued = JSON.parse((await cli(['retry', '--failed', '--include-rejected', '--prefix', url(prefix), '--json'])).stdout);
    // every watched suffix is swept (the rejected manifest the status test leaves is queued too)
    expect(queued.results).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: `${prefix}bad.qcow2`, job: 'import', outcome: 'queued' })]),
    );
    expect(queued.results.filter((l: { outcome: string }) => l.outcome !== 'queued')).toEqual([]);
    await stack.settle();
    const record = JSON.parse(
      stack.objectText(stack.stateKeys('claims').find((k) => JSON.parse(stack.objectText(k)!).key === `${prefix}bad.qcow2`)!)!,
    );
    expect(record).toMatchObject({ state: 'rejected', attempt: 2 });
  });
});

describe('retry of a conversion failure', () => {
  it('is retried by the converter, in process and through the function, and --failed sweeps every watched suffix', async () => {
    const dir = 'images/convert-retry/ubuntu/22.04/';
    stack.oss.faults.inject('UploadPart', { status: 503, code: 'ServiceUnavailable', message: 'Please reduce your request rate.' });
    await oss.put(`${dir}disk.raw`, Buffer.alloc(2 << 20, 7));
    await oss.put(`${dir}build.img`, Buffer.alloc(2 << 20, 8));
    await stack.settle();
    for (const key of ['disk.raw', 'build.img'])
      expect((await oss.getObjectTagging(`${dir}${key}`)).tag).toEqual({ 'ens:status': 'failed', 'ens:error': 'ServiceUnavailable' });
    stack.oss.faults.clear('UploadPart');
    const local = JSON.parse((await cli(['retry', url(`${dir}disk.raw`), '--via', 'local', '--json'])).stdout);
    expect(local.results).toEqual([expect.objectContaining({ key: `${dir}disk.raw`, job: 'conversion', outcome: 'converted' })]);
    const swept = JSON.parse((await cli(['retry', '--failed', '--prefix', url(dir), '--json'])).stdout);
    expect(swept.results).toEqual([expect.objectContaining({ key: `${dir}build.img`, job: 'conversion', outcome: 'queued' })]);
    await stack.settle();
    expect(
      stack
        .convertResults()
        .filter((r) => r.key === `${dir}build.img`)
        .at(-1),
    ).toMatchObject({ outcome: 'converted' });
    const imported = stack
      .importResults()
      .filter((r) => r.outcome === 'imported')
      .map((r) => r.key);
    expect(imported).toEqual(expect.arrayContaining([`${dir}disk.qcow2`, `${dir}build.qcow2`]));
    // why tells a converted source's story: its conversion, its output, the output's import
    const story = await cli(['why', url(`${dir}disk.raw`)]);
    expect(story.stdout).not.toMatch(/qemu-img/);
    expect(story.stdout).toMatch(/conversion record \(attempt \d+\): converted → oss:\/\/\S+disk\.qcow2/);
    expect(story.stdout).toMatch(/its import: importing m-\w+/);
  });
});

describe('--profile', () => {
  it('takes the credentials from the aliyun CLI config', async () => {
    const home = mkdtempSync(join(tmpdir(), 'aliyun-home-'));
    mkdirSync(join(home, '.aliyun'));
    const profile = {
      name: 'edge',
      mode: 'AK',
      access_key_id: stack.credentials.accessKeyId,
      access_key_secret: stack.credentials.accessKeySecret,
      region_id: 'cn-beijing',
    };
    writeFileSync(join(home, '.aliyun', 'config.json'), JSON.stringify({ current: 'edge', profiles: [profile] }));
    const noKeys = { HOME: home, ALIBABA_CLOUD_ACCESS_KEY_ID: undefined, ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined };
    const r = await cli(['status', url(prefix), '--profile', 'edge', '--json'], noKeys);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).total).toBeGreaterThan(0);
    const missing = await cli(['status', url(prefix), '--profile', 'nope'], noKeys);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--profile nope/);
  });
});

describe('doctor', () => {
  const checks = async (args: string[] = [], env: Record<string, string | undefined> = {}) => {
    const r = await cli(['doctor', '--json', ...args], env);
    return {
      code: r.code,
      byName: Object.fromEntries(
        (JSON.parse(r.stdout).checks as { check: string; ok: boolean; detail: string }[]).map((c) => [c.check, c]),
      ),
    };
  };

  const shippedBucketPolicy = readFileSync(resolve(PROJECT_ROOT, 'deploy/bucket-policy.json'), 'utf8');
  it("passes every check on a deployment set up as the README says (the uploaders' UIDs put in)", async () => {
    await oss.putBucketPolicy(
      stack.bucket,
      JSON.parse(shippedBucketPolicy.replace('UPLOADER_UID_1', '1234567890123456').replace('UPLOADER_UID_2', '2234567890123456')),
    );
    const r = await cli(['doctor']);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok {4}trigger qcow2-upload/);
    expect(r.stdout).toMatch(/ok {4}function role: role ens-importer-function holds all/);
    expect(r.stdout).toMatch(/ok {4}converter role: role ens-importer-converter holds all 9 actions/);
    expect(r.stdout).toMatch(/ok {4}trigger vhd-upload/);
  });

  it('names each failing check and its fix', async () => {
    expect((await checks([], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong' })).byName.credentials?.ok).toBe(false);
    const spec = stack.fc.functions.get('ens-import-image')!;
    const triggers = spec.triggers!;
    spec.triggers = triggers.filter((t) => t.triggerName !== 'qcow2-upload');
    stack.describeRole([{ Statement: [{ Effect: 'Allow', Action: ['oss:GetObject'], Resource: '*' }] }]);
    const converterPolicy = JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'deploy/ram/converter-policy.json'), 'utf8'));
    const withoutAbort = {
      Statement: converterPolicy.Statement.map((s: { Action: string[] }) => ({
        ...s,
        Action: s.Action.filter((a) => a !== 'oss:AbortMultipartUpload'),
      })),
    };
    stack.describeRole([withoutAbort], 'ens-importer-converter');
    stack.ens.faults.inject('DescribeSelfImages', { status: 503, code: 'ServiceUnavailable', times: 1 });
    await oss.deleteBucketPolicy(stack.bucket);
    const badRules = join(mkdtempSync(join(tmpdir(), 'rules-')), 'importer.yaml');
    writeFileSync(badRules, 'rules:\n  - name: x\n    prefx: images/\n');
    const r = await checks(['--rules', badRules]);
    expect(r.code).toBe(1);
    expect(r.byName['trigger qcow2-upload']).toMatchObject({ ok: false, detail: expect.stringMatching(/missing/) });
    expect(r.byName['function role']).toMatchObject({ ok: false, detail: expect.stringMatching(/lacks .*ens:ImportImage/) });
    expect(r.byName['converter role']).toMatchObject({ ok: false, detail: 'role ens-importer-converter lacks oss:AbortMultipartUpload' });
    stack.describeRole([converterPolicy], 'ens-importer-converter');
    expect(r.byName.ENS?.ok).toBe(false);
    expect(r.byName['state-prefix policy']).toMatchObject({ ok: false, detail: 'the bucket has no policy' });
    expect(r.byName.rules?.ok).toBe(false);
    spec.triggers = triggers;
    await oss.putBucketVersioning(stack.bucket, 'Enabled');
    expect((await checks()).byName.versioning).toMatchObject({ ok: false, detail: 'versioning is Enabled' });
    expect((await checks(['--region', 'cn-hangzhou'])).byName.region?.ok).toBe(false);
  });

  it("reads the bucket policy's Principal: placeholders protect nothing, * locks the functions out", async () => {
    await oss.putBucketPolicy(stack.bucket, JSON.parse(shippedBucketPolicy));
    expect((await checks()).byName['state-prefix policy']).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/UPLOADER_UID_1.*protects nothing/),
    });
    await oss.putBucketPolicy(stack.bucket, JSON.parse(shippedBucketPolicy.replace('["UPLOADER_UID_1", "UPLOADER_UID_2"]', '["*"]')));
    expect((await checks()).byName['state-prefix policy']).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/denies the functions too/),
    });
  });

  it('tells a network failure from a permission refusal', async () => {
    const closed = 'http://127.0.0.1:9'; // nothing listens on the discard port here
    const r = await checks([], { ENS_ENDPOINT: closed, OSS_ENDPOINT: closed });
    expect(r.byName.ENS).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^network: /),
      fix: 'check ENS_ENDPOINT and the network',
    });
    expect(r.byName.bucket).toMatchObject({ ok: false, detail: expect.stringMatching(/^network: /) });
    stack.ens.faults.inject('DescribeSelfImages', { status: 403, code: 'Forbidden.RAM', times: 1 });
    expect((await checks()).byName.ENS).toMatchObject({ ok: false, detail: expect.stringMatching(/^permission refused/) });
  });
});
