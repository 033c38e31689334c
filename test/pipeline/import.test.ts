import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { ossEvent, payload, redelivered } from '../helpers/events';
import { fixture } from '../helpers/fixtures';

let stack: LocalStack;
let oss: any;
const allLogs: string[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20, buckets: [{ name: 'hz-images', region: 'cn-hangzhou' }] });
  oss = ossClient(stack);
});
afterAll(async () => {
  allLogs.push(...stack.fc.logs.map((l) => l.message));
  secrets.push(...stack.secrets());
  await stack.stop();
  // No log line of the whole suite may carry a secret, a token or an AccessKeyId.
  expect(allLogs.length).toBeGreaterThan(20);
  const ids = [...stack.fc.functions.keys()].map((n) => stack.fc.credentialsFor(n).accessKeyId);
  for (const line of allLogs) {
    for (const s of [...secrets, ...ids]) expect(line.includes(s), `log line leaks a secret: ${line.slice(0, 200)}`).toBe(false);
  }
});

const upload = async (key: string, body: Buffer, opts: Record<string, unknown> = {}) => {
  const r = await oss.put(key, body, opts);
  await stack.settle();
  return r;
};
const tagsOf = async (key: string) => (await oss.getObjectTagging(key)).tag as Record<string, string>;
const results = (): any[] => stack.importResults();
const resultFor = (key: string) =>
  results()
    .filter((r) => r.key === key)
    .at(-1);
const importsOf = (key: string) => stack.ens.callsOf('ImportImage').filter((c) => c.params.OSSObject === key);
const logLinesFor = (key: string) => stack.fc.logs.map((l) => JSON.parse(l.message)).filter((l) => l.key === key);

describe('import pipeline through the local stack', () => {
  it('imports a clean qcow2 v3: every parameter checked by ENS, tags and record written', async () => {
    const key = 'images/ubuntu/22.04/web-server.qcow2';
    await upload(key, fixture('v3.qcow2'));
    const r = resultFor(key);
    expect(r).toMatchObject({ outcome: 'imported', imageName: 'web-server', attempts: 1 });
    expect(r.imageId).toMatch(/^m-[a-z0-9]+$/);
    const call = importsOf(key);
    expect(call).toHaveLength(1);
    expect(call[0]!.status).toBe(200);
    expect(call[0]!.params).toEqual({
      ImageName: 'web-server',
      ComputeType: 'ens_vm',
      OSType: 'linux',
      ImageFormat: 'qcow2',
      Architecture: 'x86_64',
      Platform: 'ubuntu',
      OSVersion: '22.04',
      OSSRegion: 'cn-beijing',
      OSSBucket: stack.bucket,
      OSSObject: key,
    });
    expect(await tagsOf(key)).toEqual({ 'ens:image-id': r.imageId, 'ens:status': 'importing' });
    const record = stack
      .stateKeys('claims')
      .map((k) => JSON.parse(stack.objectText(k)!))
      .find((x) => x.key === key);
    expect(record).toMatchObject({
      state: 'importing',
      imageId: r.imageId,
      etag: r.etag,
      params: {
        ImageName: { value: 'web-server', source: 'convention' },
        Platform: { value: 'ubuntu', source: 'convention' },
        ComputeType: { source: 'default' },
      },
    });
    expect(record.inspection).toMatchObject({ format: 'qcow2', version: 3, virtualSize: 1024 ** 3 });
    expect(record.ensRequestId).toBeTruthy();
    // one line per object with the documented fields
    const line = logLinesFor(key).find((l) => l.outcome === 'imported');
    for (const f of [
      'outcome',
      'bucket',
      'key',
      'etag',
      'size',
      'imageId',
      'imageName',
      'requestId',
      'ensRequestId',
      'attempts',
      'durationMs',
    ])
      expect(line, f).toHaveProperty(f);
  });

  it('reads only the first 64 KiB of the object in one GET, without HEAD', async () => {
    const key = 'images/ubuntu/22.04/read-once.qcow2';
    const before = stack.oss.requestLog.length;
    await upload(key, fixture('v3.qcow2'));
    const ops = stack.oss.requestLog.slice(before).filter((e) => e.key === key);
    expect(ops.filter((o) => o.operation === 'HeadObject')).toHaveLength(0);
    const gets = ops.filter((o) => o.operation === 'GetObject');
    expect(gets).toHaveLength(1);
    expect(gets[0]!.bytesSent).toBe(64 * 1024);
  });

  it('imports a qcow2 v2 (compat=0.10) image', async () => {
    await upload('images/centos/7.9/legacy.qcow2', fixture('v2.qcow2'));
    expect(resultFor('images/centos/7.9/legacy.qcow2')).toMatchObject({ outcome: 'imported' });
  });

  it("keeps the user's tags", async () => {
    const key = 'images/ubuntu/20.04/tagged.qcow2';
    await upload(key, fixture('v3.qcow2'), { headers: { 'x-oss-tagging': 'team=edge&cost-center=42' } });
    const tags = await tagsOf(key);
    expect(tags).toMatchObject({ team: 'edge', 'cost-center': '42', 'ens:status': 'importing' });
    expect(tags['ens:image-id']).toMatch(/^m-/);
  });

  it('lets metadata override the key, including a Chinese ImageName sent raw or percent-encoded', async () => {
    const raw = 'images/misc/x/a.qcow2';
    await upload(raw, fixture('v3.qcow2'), {
      headers: {
        'x-oss-meta-ens-image-name': Buffer.from('边缘镜像-web', 'utf8').toString('latin1'),
        'x-oss-meta-ens-platform': 'centos',
        'x-oss-meta-ens-os-version': '8.2',
        'x-oss-meta-ens-target-region': 'ap-southeast-1',
      },
    });
    expect(importsOf(raw)[0]!.params).toMatchObject({
      ImageName: '边缘镜像-web',
      Platform: 'centos',
      OSVersion: '8.2',
      TargetOSSRegionId: 'ap-southeast-1',
    });
    const encoded = 'images/misc/x/b.qcow2';
    await upload(encoded, fixture('v3.qcow2'), {
      meta: { 'ens-image-name': encodeURIComponent('边缘镜像-api'), 'ens-platform': 'ubuntu', 'ens-os-version': '24.04' },
    });
    expect(importsOf(encoded)[0]!.params).toMatchObject({ ImageName: '边缘镜像-api', Platform: 'ubuntu', OSVersion: '24.04' });
    const r = resultFor(encoded);
    expect(r.outcome).toBe('imported');
  });

  it('makes a name taken from the key valid for ENS (a "." becomes "-") and logs it', async () => {
    const key = 'images/ubuntu/22.04/ubuntu-22.04.3-server.qcow2';
    await upload(key, fixture('v3.qcow2'));
    expect(importsOf(key)[0]!.params.ImageName).toBe('ubuntu-22-04-3-server');
    expect(stack.fc.logs.some((l) => l.message.includes('"event":"image-name-fixed"') && l.message.includes('ubuntu-22.04.3-server'))).toBe(
      true,
    );
  });

  it('refuses an invalid ImageName given in metadata instead of rewriting it', async () => {
    const key = 'images/ubuntu/22.04/explicit.qcow2';
    await upload(key, fixture('v3.qcow2'), { meta: { 'ens-image-name': 'my.image' } });
    expect(resultFor(key)).toMatchObject({ outcome: 'rejected', errorCode: 'InvalidParameter.ImageName' });
    expect(await tagsOf(key)).toEqual({ 'ens:status': 'rejected', 'ens:error': 'InvalidParameter.ImageName' });
    expect(importsOf(key)).toHaveLength(0);
  });

  const refusals: [string, string][] = [
    ['backing-file.qcow2', 'qcow2-backing-file'],
    ['data-file.qcow2', 'qcow2-data-file'],
    ['luks.qcow2', 'qcow2-encrypted'],
    ['raw-disk.qcow2', 'not-qcow2'],
    ['truncated.qcow2', 'qcow2-truncated'],
    ['empty.qcow2', 'empty-object'],
    ['huge.qcow2', 'qcow2-too-large'],
  ];
  for (const [file, code] of refusals) {
    it(`refuses ${file} with ${code}, tagging the object and logging the reason`, async () => {
      const key = `images/ubuntu/22.04/${file}`;
      await upload(key, fixture(file));
      const r = resultFor(key);
      expect(r).toMatchObject({ outcome: 'rejected', errorCode: code });
      expect(r.reason.length).toBeGreaterThan(10);
      expect(await tagsOf(key)).toEqual({ 'ens:status': 'rejected', 'ens:error': code });
      expect(importsOf(key)).toHaveLength(0);
    });
  }

  it('refuses a bucket outside the allowed regions with InvalidParameter.OSSRegion', async () => {
    const hzClient = ossClient(stack, { bucket: 'hz-images', region: 'cn-hangzhou' });
    await hzClient.put('images/ubuntu/22.04/hz.qcow2', fixture('v3.qcow2'));
    const event = ossEvent(stack, 'images/ubuntu/22.04/hz.qcow2', { bucket: 'hz-images', region: 'cn-hangzhou' });
    const out: any = await stack.fc.invoke('ens-import-image', payload(event));
    expect(out.results[0]).toMatchObject({ outcome: 'rejected', errorCode: 'InvalidParameter.OSSRegion' });
    expect((await hzClient.getObjectTagging('images/ubuntu/22.04/hz.qcow2')).tag).toEqual({
      'ens:status': 'rejected',
      'ens:error': 'InvalidParameter.OSSRegion',
    });
  });

  it('imports once when the event is delivered again, sequentially and 5 times concurrently', async () => {
    const key = 'images/ubuntu/22.04/dup.qcow2';
    await upload(key, fixture('v3.qcow2'));
    const first = resultFor(key);
    // the trigger's own event, delivered again: same upload request id
    const event = payload(redelivered(stack, key));
    stack.fc.invokeAsync('ens-import-image', event);
    await stack.settle();
    expect(resultFor(key)).toMatchObject({ outcome: 'duplicate', imageId: first.imageId });

    const key5 = 'images/ubuntu/22.04/dup5.qcow2';
    await oss.put(key5, fixture('v3.qcow2'));
    const event5 = payload(ossEvent(stack, key5));
    for (let i = 0; i < 5; i++) stack.fc.invokeAsync('ens-import-image', event5);
    await stack.settle();
    expect(importsOf(key5)).toHaveLength(1);
    const outcomes = results()
      .filter((r) => r.key === key5)
      .map((r) => r.outcome)
      .sort();
    expect(outcomes).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'imported']);
  });

  it('retries Throttling twice, then imports', async () => {
    stack.ens.faults.inject('ImportImage', { status: 400, code: 'Throttling.User', times: 2 });
    const key = 'images/ubuntu/22.04/throttled.qcow2';
    await upload(key, fixture('v3.qcow2'));
    expect(resultFor(key)).toMatchObject({ outcome: 'imported', attempts: 3 });
    expect(importsOf(key).map((c) => c.code ?? 'ok')).toEqual(['Throttling.User', 'Throttling.User', 'ok']);
  });

  it('throws on a persistent 500 after retrying within the time left, and a later retry imports', async () => {
    stack.fc.register({
      ...stack.fc.functions.get('ens-import-image')!,
      name: 'short-import',
      timeoutSeconds: 4,
      maxAsyncRetryAttempts: 0,
    });
    const key = 'images/ubuntu/22.04/flaky.qcow2';
    stack.oss.seedObject(stack.bucket, key, fixture('v3.qcow2'));
    stack.ens.faults.inject('ImportImage', { status: 500, code: 'InternalError', times: 1000 });
    const obj = stack.oss.peekObject(stack.bucket, key)!;
    const event = JSON.stringify({
      events: [
        {
          eventName: 'ObjectCreated:PutObject',
          eventSource: 'acs:oss',
          region: 'cn-beijing',
          oss: { bucket: { name: stack.bucket }, object: { key, size: obj.size, eTag: obj.etag } },
        },
      ],
    });
    await expect(stack.fc.invoke('short-import', event)).rejects.toThrow(/failed transiently/);
    const failedLine = logLinesFor(key)
      .filter((l) => l.outcome === 'failed')
      .at(-1);
    expect(failedLine).toMatchObject({ errorCode: 'InternalError' });
    expect(failedLine.attempts).toBeGreaterThan(1);
    stack.ens.faults.clear('ImportImage');
    const out: any = await stack.fc.invoke('short-import', event);
    expect(out.results[0]).toMatchObject({ outcome: 'imported' });
    expect(importsOf(key).filter((c) => c.status === 200)).toHaveLength(1);
  });

  it('imports a key with spaces, "+" and Chinese characters', async () => {
    const key = 'images/ubuntu/22.04/边缘 web+api.qcow2';
    await upload(key, fixture('v3.qcow2'));
    expect(resultFor(key)).toMatchObject({ outcome: 'imported', imageName: '边缘-web-api' });
    expect(importsOf(key)).toHaveLength(1);
  });

  it('finds the object when the event carries a URL-encoded key', async () => {
    const encodedStack = await startLocalStack({ eventKeyEncoding: 'url', retryBaseMs: 20 });
    try {
      const key = 'images/ubuntu/22.04/my image+1.qcow2';
      await ossClient(encodedStack).put(key, fixture('v3.qcow2'));
      await encodedStack.settle();
      const r = encodedStack.importResults()[0];
      expect(r).toMatchObject({ outcome: 'imported', key });
      allLogs.push(...encodedStack.fc.logs.map((l) => l.message));
      secrets.push(...encodedStack.secrets());
    } finally {
      await encodedStack.stop();
    }
  });

  it('imports a multipart upload once (the trigger sees only CompleteMultipartUpload)', async () => {
    const key = 'images/ubuntu/22.04/multipart.qcow2';
    const body = Buffer.concat([fixture('v3.qcow2'), Buffer.alloc(300 * 1024)]);
    await oss.multipartUpload(key, body, { partSize: 100 * 1024 });
    await stack.settle();
    expect(resultFor(key)).toMatchObject({ outcome: 'imported' });
    expect(resultFor(key).etag).toMatch(/-\d+$/);
    expect(importsOf(key)).toHaveLength(1);
  });

  it('handles every event of a batch, one bad among them', async () => {
    const good = 'images/ubuntu/22.04/batch-good.qcow2';
    const bad = 'images/ubuntu/22.04/batch-bad.qcow2';
    await oss.put(good, fixture('v2.qcow2'), { headers: { 'x-oss-meta-ens-import': 'skip' } });
    await oss.put(bad, fixture('raw-disk.qcow2'), { headers: { 'x-oss-meta-ens-import': 'skip' } });
    await stack.settle();
    // metadata changed in place (the skip removed) fires CopyObject, which the trigger imports
    await oss.copy(good, good, { headers: { 'x-oss-metadata-directive': 'REPLACE' } });
    await oss.copy(bad, bad, { headers: { 'x-oss-metadata-directive': 'REPLACE' } });
    await stack.settle();
    expect(resultFor(good)).toMatchObject({ outcome: 'imported' });
    expect(resultFor(bad)).toMatchObject({ outcome: 'rejected', errorCode: 'not-qcow2' });
    const ev = (key: string) => redelivered(stack, key);
    const out: any = await stack.fc.invoke(
      'ens-import-image',
      JSON.stringify({ events: [ev(good), { not: 'an event' }, ev(bad), { ...ev(good), eventName: 'ObjectCreated:UploadPart' }] }),
    );
    // the same versions again, in one batch: each event handled, none imported twice
    expect(out.results.map((r: any) => r.outcome)).toEqual(['duplicate', 'duplicate', 'skipped']);
    expect(importsOf(good).filter((c) => c.status === 200)).toHaveLength(1);
    expect(stack.fc.logs.some((l) => l.message.includes('"errorCode":"invalid-event"'))).toBe(true);
  });

  it('logs and does not throw on an event that is not JSON or not an OSS event', async () => {
    await expect(stack.fc.invoke('ens-import-image', 'not json')).resolves.toEqual({ results: [] });
    await expect(stack.fc.invoke('ens-import-image', JSON.stringify({ hello: 'world' }))).resolves.toEqual({ results: [] });
  });

  it('never imports objects under the state prefix, and skips superseded events', async () => {
    const out: any = await stack.fc.invoke(
      'ens-import-image',
      JSON.stringify({
        events: [
          {
            eventName: 'ObjectCreated:PutObject',
            eventSource: 'acs:oss',
            region: 'cn-beijing',
            oss: { bucket: { name: stack.bucket }, object: { key: '.ens-importer/claims/x.qcow2', size: 1, eTag: 'AA' } },
          },
        ],
      }),
    );
    expect(out.results[0]).toMatchObject({ outcome: 'skipped', errorCode: 'state-object' });
    const key = 'images/ubuntu/22.04/overwritten.qcow2';
    await oss.put(key, fixture('v3.qcow2'), { headers: { 'x-oss-meta-ens-import': 'skip' } });
    await stack.settle();
    const stale = {
      eventName: 'ObjectCreated:PutObject',
      eventSource: 'acs:oss',
      region: 'cn-beijing',
      oss: { bucket: { name: stack.bucket }, object: { key, size: 1, eTag: '0123456789ABCDEF0123456789ABCDEF' } },
    };
    const out2: any = await stack.fc.invoke('ens-import-image', JSON.stringify({ events: [stale] }));
    expect(out2.results[0]).toMatchObject({ outcome: 'skipped', errorCode: 'superseded' });
    const gone: any = await stack.fc.invoke(
      'ens-import-image',
      JSON.stringify({
        events: [{ ...stale, oss: { ...stale.oss, object: { key: 'images/ubuntu/22.04/never-existed.qcow2', eTag: 'AB' } } }],
      }),
    );
    expect(gone.results[0]).toMatchObject({ outcome: 'rejected', errorCode: 'object-missing' });
  });
});

describe('dry run', () => {
  it('derives, inspects and logs, and changes nothing', async () => {
    const dry = await startLocalStack({ functionEnv: { IMPORTER_DRY_RUN: 'true' } });
    try {
      const client = ossClient(dry);
      await client.put('images/ubuntu/22.04/dry.qcow2', fixture('v3.qcow2'));
      await client.put('images/ubuntu/22.04/dry-bad.qcow2', fixture('luks.qcow2'));
      await dry.settle();
      const rs = dry.importResults();
      expect(rs.map((r: any) => [r.outcome, r.errorCode, r.dryRun])).toEqual([
        ['skipped', 'dry-run', true],
        ['rejected', 'qcow2-encrypted', true],
      ]);
      expect(dry.ens.calls).toHaveLength(0);
      const writes = dry.oss.requestLog.filter((e) => e.operation !== 'GetObject' && e.operation !== 'PutObject');
      expect(writes).toEqual([]);
      expect(dry.oss.requestLog.filter((e) => e.operation === 'PutObject')).toHaveLength(2);
      expect(dry.oss.objectKeys(dry.bucket).sort()).toEqual(['images/ubuntu/22.04/dry-bad.qcow2', 'images/ubuntu/22.04/dry.qcow2']);
      allLogs.push(...dry.fc.logs.map((l) => l.message));
      secrets.push(...dry.secrets());
    } finally {
      await dry.stop();
    }
  });
});
