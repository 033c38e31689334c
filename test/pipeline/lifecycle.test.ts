import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { createEnsApi } from '../../shared/adapters/ens';
import { createObjectStore } from '../../shared/adapters/oss';
import { createObjectTransfer } from '../../shared/adapters/oss-transfer';
import { objectCreatedEvent, type ObjectEvent } from '../../shared/core/event';
import { convertObjectEvent } from '../../shared/conversion/convert-event';
import { processObjectEvent } from '../../shared/import/pipeline';
import { readConverterConfig, readImportConfig } from '../../shared/runtime/config';
import { createLogger } from '../../shared/runtime/logger';
import { stateLayout } from '../../shared/state/layout';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/**
 * What every job shares, tested once per job (the import, the conversion) through the version
 * door, the real SDKs and the local stack: a versioned bucket, a stale version, a busy version,
 * a duplicate, and FC's give-up arriving after a newer version.
 */

const layout = stateLayout('.ens-importer/');
const lines: string[] = [];
const RAW = Buffer.alloc(1 << 20, 0x5a);
let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images' }, { name: 'versioned' }] });
  stack.oss.setVersioning('versioned', 'Enabled');
});
afterAll(() => stack.stop());

const target = (bucket: string) => ({ region: 'cn-beijing', bucket, endpoint: stack.endpoints.oss, credentials: stack.credentials });
const common = (bucket: string, deadlineMs: number) => ({
  store: createObjectStore(target(bucket), { deadline: Date.now() + deadlineMs }),
  log: createLogger((l) => lines.push(l), {}, [stack.credentials.accessKeySecret]),
  requestId: `inv-${Math.random().toString(36).slice(2)}`,
  deadline: Date.now() + deadlineMs,
});
const env = () => ({ OSS_ENDPOINT: stack.endpoints.oss, ENS_ENDPOINT: stack.endpoints.ens });

const JOBS = {
  import: {
    key: 'images/ubuntu/22.04/door.qcow2',
    body: () => fixture('v3.qcow2'),
    run: (event: ObjectEvent, bucket = 'ens-images', deadlineMs = 20_000) =>
      processObjectEvent(event, {
        ...common(bucket, deadlineMs),
        config: readImportConfig(env(), process.cwd()),
        ens: createEnsApi(stack.endpoints.ens, stack.credentials),
      }),
    claimKey: (bucket: string, key: string, etag: string) => layout.claimKey(bucket, key, etag),
    liveClaim: (key: string, etag: string) => ({ state: 'claimed', attempt: 1, history: [] as unknown[], key, etag }),
  },
  conversion: {
    key: 'images/ubuntu/22.04/door.raw',
    body: () => RAW,
    run: (event: ObjectEvent, bucket = 'ens-images', deadlineMs = 20_000) =>
      convertObjectEvent(event, {
        ...common(bucket, deadlineMs),
        config: readConverterConfig(env(), process.cwd()),
        transfer: createObjectTransfer(target(bucket), { deadline: Date.now() + deadlineMs }),
      }),
    claimKey: (bucket: string, key: string, etag: string) => layout.conversionKey(bucket, key, etag),
    liveClaim: (key: string, etag: string) => ({
      state: 'converting',
      attempt: 1,
      history: [] as unknown[],
      key,
      etag,
      firstClaimedAt: new Date().toISOString(),
      outputKey: key.replace(/\.raw$/, '.qcow2'),
    }),
  },
} as const;

const eventOf = (bucket: string, key: string, etag?: string): ObjectEvent => {
  const o = stack.oss.peekObject(bucket, key)!;
  return {
    eventName: 'ObjectCreated:PutObject',
    region: 'cn-beijing',
    bucket,
    key,
    etag: etag ?? o.etag.toUpperCase(),
    size: o.size,
    requestId: `upload-${Math.random().toString(36).slice(2)}`,
  };
};
const tagsOf = async (bucket: string, key: string) => (await ossClient(stack, { bucket }).getObjectTagging(key)).tag;

describe.each(Object.entries(JOBS))('the version door, %s job', (name, job) => {
  it('refuses a versioned bucket and says so on the object', async () => {
    const key = job.key.replace('door', `versioned-${name}`);
    stack.oss.seedObject('versioned', key, job.body());
    const r = await job.run(eventOf('versioned', key), 'versioned');
    expect(r).toMatchObject({ outcome: 'failed', errorCode: 'bucket-versioning', retryable: false });
    expect(await tagsOf('versioned', key)).toEqual({ 'ens:status': 'failed', 'ens:error': 'bucket-versioning' });
  });

  it('ends an event for a version the object no longer holds as superseded, claiming nothing', async () => {
    const key = job.key.replace('door', `stale-${name}`);
    stack.oss.seedObject('ens-images', key, job.body());
    const stale = eventOf('ens-images', key, '"0123456789ABCDEF0123456789ABCDEF"');
    const r = await job.run(stale);
    expect(r).toMatchObject({ outcome: 'skipped', errorCode: 'superseded' });
    expect(stack.oss.peekObject('ens-images', job.claimKey('ens-images', key, stale.etag!))).toBeUndefined();
  });

  it('leaves a version a live invocation holds to it: claim-busy, retryable, nothing done', async () => {
    const key = job.key.replace('door', `busy-${name}`);
    stack.oss.seedObject('ens-images', key, job.body());
    const e = eventOf('ens-images', key);
    const held = {
      ...job.liveClaim(key, e.etag!),
      bucket: 'ens-images',
      generation: 0,
      claimedAt: new Date().toISOString(),
      claimDeadline: new Date(Date.now() + 60_000).toISOString(),
      requestId: 'the-other-invocation',
    };
    stack.oss.seedObject('ens-images', job.claimKey('ens-images', key, e.etag!), Buffer.from(JSON.stringify(held)));
    const r = await job.run(e, 'ens-images', 1_500);
    expect(r).toMatchObject({ outcome: 'failed', errorCode: 'claim-busy', retryable: true });
    expect(r.reason).toMatch(/the-other-invocation/);
  });

  it('handles a version once: a redelivery is a duplicate that says the record again', async () => {
    const key = job.key.replace('door', `twice-${name}`);
    stack.oss.seedObject('ens-images', key, job.body());
    const e = eventOf('ens-images', key);
    const first = await job.run(e);
    expect(['imported', 'converted']).toContain(first.outcome);
    const again = await job.run(e);
    expect(again).toMatchObject({ outcome: 'duplicate' });
  });

  it('screens the importer own state the same way', async () => {
    const state = { eventName: 'ObjectCreated:PutObject', region: 'cn-beijing', bucket: 'ens-images', key: '.ens-importer/claims/x.json' };
    const r = await job.run({ ...state, etag: '"X"', size: 2 });
    expect(r).toMatchObject({ outcome: 'skipped', errorCode: 'state-object' });
  });
});

describe('FC gives up on an older version after a newer one was uploaded', () => {
  let full: LocalStack;
  beforeAll(async () => {
    full = await startLocalStack({ retryBaseMs: 20 });
  });
  afterAll(() => full.stop());

  const giveUp = (key: string, etag: string, size: number) =>
    full.fc.invoke(
      'ens-import-failed',
      JSON.stringify({
        requestContext: { requestId: 'gave-up', condition: 'RetryExhausted', approximateInvokeCount: 3 },
        requestPayload: JSON.stringify(
          objectCreatedEvent({
            region: full.region,
            bucket: full.bucket,
            key,
            size,
            etag,
            accountId: full.accountId,
            requestId: 'old-upload',
          }),
        ),
        responsePayload: JSON.stringify({ errorMessage: 'the service was unavailable (ServiceUnavailable)' }),
      }),
    ) as Promise<{ results: { key: string; outcome: string; errorCode?: string; olderVersion?: boolean }[] }>;

  /** the ETag of bytes, learnt by uploading them under another key */
  async function etagOf(body: Buffer, key: string): Promise<string> {
    await ossClient(full).put(key, body);
    await full.settle();
    return full.oss.peekObject(full.bucket, key)!.etag.toUpperCase();
  }

  it.each([
    ['import', 'images/ubuntu/22.04/late.qcow2', () => fixture('v3.qcow2'), () => fixture('v2.qcow2'), 'importing'],
    [
      'conversion',
      'images/ubuntu/22.04/late-source.raw',
      () => Buffer.alloc(1 << 20, 0x11),
      () => Buffer.alloc(1 << 20, 0x22),
      'converted',
    ],
  ])('%s: the newer version keeps its tags; the older version’s record says failed', async (_job, key, older, newer, status) => {
    const oldEtag = await etagOf(older(), key.replace('late', 'late-twin'));
    const oss = ossClient(full);
    await oss.put(key, newer());
    await full.settle();
    const before = (await oss.getObjectTagging(key)).tag;
    expect(before['ens:status'], JSON.stringify(full.convertResults().at(-1))).toBe(status);
    const { results } = await giveUp(key, oldEtag, older().length);
    expect(results[0]).toMatchObject({ key, outcome: 'failed', errorCode: 'ServiceUnavailable', olderVersion: true });
    expect((await oss.getObjectTagging(key)).tag).toEqual(before);
    const kind = key.endsWith('.raw') ? 'conversions' : 'claims';
    const records = full.stateKeys(kind).map((k) => JSON.parse(full.objectText(k)!));
    expect(records.find((r) => r.key === key && r.etag === oldEtag)).toMatchObject({ state: 'failed', errorCode: 'ServiceUnavailable' });
    // the notice says it is about an older version
    const notice = full.webhook.received.map((r) => r.body as Record<string, unknown>).find((b) => b.by === 'on-failure' && b.key === key);
    expect(notice).toMatchObject({ outcome: 'failed', olderVersion: { etag: oldEtag } });
    const said = full.fc.logs.filter((l) => l.function === 'ens-import-failed').map((l) => l.message);
    expect(said.some((m) => m.includes('"event":"tags-not-written"') && m.includes(oldEtag.replace(/"/g, '\\"')))).toBe(true);
  });

  it('screens a state key with the same code the import uses (state-object)', async () => {
    const { results } = await giveUp('.ens-importer/claims/forged.json', '"ABC"', 10);
    expect(results).toEqual([expect.objectContaining({ outcome: 'skipped', errorCode: 'state-object' })]);
  });
});
