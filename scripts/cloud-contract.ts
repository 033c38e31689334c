import { readFileSync } from 'node:fs';
import { createEnsApi } from '../shared/adapters/ens';
import { createFcInvoker } from '../shared/adapters/fc';
import OSS from 'ali-oss';
import { createObjectStore, ossClientOptions } from '../shared/adapters/oss';
import { objectCreatedEvent } from '../shared/core/event';
import { DEFAULTS } from '../shared/runtime/config';
import { postWebhook } from '../shared/adapters/webhook';
import { renderNotice, resolveNotifyTarget } from '../shared/core/notification';
import { FAILED } from '../shared/track/ens-status';

/**
 * `npm run test:cloud`: checks an account before anyone trusts the importer with it. Each
 * check runs only when what it needs is given, and says what it skipped:
 *
 *   ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET [/ _SECURITY_TOKEN]   credentials (required)
 *   IMPORTER_TEST_BUCKET, IMPORTER_TEST_REGION (cn-beijing)     a bucket to write a few small objects in
 *   IMPORTER_TEST_VERSIONED_BUCKET                              a bucket with versioning (the claim must be refused there)
 *   IMPORTER_TEST_IMAGE=./small.qcow2                           ImportImage of that file, then DeleteImage
 *   IMPORTER_TEST_FUNCTION, ALIBABA_CLOUD_ACCOUNT_ID            an invocation of the deployed function (a skipped event)
 *   IMPORTER_TEST_ROBOT_WEBHOOK, _FORMAT (dingtalk|lark), _SECRET  a chat robot: one signed test message
 *   OSS_ENDPOINT, ENS_ENDPOINT, IMPORTER_FC_ENDPOINT            other endpoints (the local stack, in CI)
 */

type Result = { check: string; verdict: 'ok' | 'failed' | 'skipped'; detail: string };

const env = process.env;
const prefix = `${DEFAULTS.statePrefix}contract-test/${Date.now().toString(36)}/`;

let results: Result[] = [];

async function check(name: string, needs: string | undefined, run: () => Promise<string>): Promise<void> {
  if (needs) return void results.push({ check: name, verdict: 'skipped', detail: needs });
  try {
    results.push({ check: name, verdict: 'ok', detail: await run() });
  } catch (err) {
    results.push({ check: name, verdict: 'failed', detail: String((err as Error).message ?? err).split('\n')[0]! });
  }
}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

export async function runContract(): Promise<Result[]> {
  results = [];
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret) {
    results.push({
      check: 'everything',
      verdict: 'skipped',
      detail: 'no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    });
    return results;
  }
  const credentials = { accessKeyId, accessKeySecret, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined };
  const region = env.IMPORTER_TEST_REGION ?? 'cn-beijing';
  const bucket = env.IMPORTER_TEST_BUCKET;
  const noBucket = bucket ? undefined : 'no IMPORTER_TEST_BUCKET';
  const store = bucket ? createObjectStore({ region, bucket, endpoint: env.OSS_ENDPOINT, credentials }) : undefined;
  const ens = createEnsApi(env.ENS_ENDPOINT ?? DEFAULTS.ensEndpoint, credentials);

  await check('OSS: V4-signed ranged GET', noBucket, async () => {
    await store!.putText(`${prefix}head.txt`, 'contract-test-body');
    const head = await store!.readHead(`${prefix}head.txt`, 8);
    expect(
      head?.bytes.toString() === 'contract' && head.size === 18,
      `ranged GET returned ${JSON.stringify(head?.bytes.toString())} of ${head?.size}`,
    );
    return `8 of 18 bytes, ETag ${head!.etag}`;
  });
  await check('OSS: create-if-absent (the claim)', noBucket, async () => {
    const key = `${prefix}claim.json`;
    expect(await store!.createIfAbsent(key, '{}'), 'the first create was refused');
    expect(!(await store!.createIfAbsent(key, '{}')), 'the second create overwrote: forbid-overwrite does not hold here (versioning?)');
    return 'first created, second refused with FileAlreadyExists';
  });
  await check('OSS: bucket versioning is off', noBucket, async () => {
    const status = await store!.getVersioning();
    expect(!status, `versioning is ${status}: the importer refuses this bucket`);
    return 'no versioning';
  });
  await check(
    'OSS: a versioned bucket is refused',
    env.IMPORTER_TEST_VERSIONED_BUCKET ? undefined : 'no IMPORTER_TEST_VERSIONED_BUCKET',
    async () => {
      const versioned = createObjectStore({ region, bucket: env.IMPORTER_TEST_VERSIONED_BUCKET!, endpoint: env.OSS_ENDPOINT, credentials });
      const status = await versioned.getVersioning();
      expect(status === 'Enabled' || status === 'Suspended', `versioning reads as ${status ?? 'off'}`);
      return `versioning ${status}: the import function answers bucket-versioning there`;
    },
  );
  await check('OSS: tags read and written', noBucket, async () => {
    const key = `${prefix}head.txt`;
    expect(await store!.putTags(key, { 'ens:status': 'importing', team: 'edge' }), 'the object was gone');
    const tags = await store!.getTags(key);
    expect(tags?.['ens:status'] === 'importing' && tags.team === 'edge', `tags read back as ${JSON.stringify(tags)}`);
    return 'merged set written and read back';
  });
  await check('ENS: DescribeSelfImages', undefined, async () => {
    const r = await ens.describeSelfImages({ PageSize: 1 }, 10_000);
    return `${r.totalCount} image(s) in the account`;
  });
  await check(
    'ENS: ImportImage of a small image, then DeleteImage',
    env.IMPORTER_TEST_IMAGE && bucket ? undefined : 'no IMPORTER_TEST_IMAGE (and IMPORTER_TEST_BUCKET)',
    async () => {
      const key = `${prefix}contract.qcow2`;
      await new OSS(ossClientOptions({ region, bucket: bucket!, endpoint: env.OSS_ENDPOINT, credentials })).put(
        key,
        readFileSync(env.IMPORTER_TEST_IMAGE!),
      );
      const params = {
        ImageName: `contract-test-${Date.now().toString(36)}`,
        ComputeType: 'ens_vm',
        OSType: 'linux',
        ImageFormat: 'qcow2',
        Architecture: 'x86_64',
        Platform: 'ubuntu',
        OSVersion: '22.04',
        OSSRegion: region,
        OSSBucket: bucket!,
        OSSObject: key,
      };
      const { imageId } = await ens.importImage(params, 30_000);
      // DeleteImage refuses an image still being made (IncorrectStatus.Image): wait for its end
      const status = await waitForImageEnd(ens, imageId, Number(env.IMPORTER_TEST_WAIT_SECONDS ?? 1800) * 1000);
      const deleted = await ens.deleteImage(imageId, 30_000);
      return `imported ${imageId} (${status}), ${deleted === 'deleted' ? 'deleted' : 'already gone'}`;
    },
  );
  await check(
    'FC: invoke the deployed function',
    env.IMPORTER_TEST_FUNCTION && env.ALIBABA_CLOUD_ACCOUNT_ID ? undefined : 'no IMPORTER_TEST_FUNCTION and ALIBABA_CLOUD_ACCOUNT_ID',
    async () => {
      const fc = createFcInvoker({
        api: '2023-03-30',
        accountId: env.ALIBABA_CLOUD_ACCOUNT_ID!,
        region,
        endpoint: env.IMPORTER_FC_ENDPOINT,
        credentials,
      });
      // an event the function skips (event-kind): it proves the invocation path, and changes nothing
      const event = objectCreatedEvent({
        region,
        bucket: bucket ?? 'contract-test',
        key: `${prefix}none.qcow2`,
        size: 0,
        etag: '0',
        eventName: 'ObjectCreated:UploadPart',
      });
      await fc.invokeAsync(env.IMPORTER_TEST_FUNCTION!, JSON.stringify(event));
      return 'accepted (asynchronous)';
    },
  );
  await check(
    'chat robot takes a signed message',
    env.IMPORTER_TEST_ROBOT_WEBHOOK ? undefined : 'no IMPORTER_TEST_ROBOT_WEBHOOK',
    async () => {
      const format = (env.IMPORTER_TEST_ROBOT_FORMAT ?? 'dingtalk') as 'dingtalk' | 'lark';
      const target = resolveNotifyTarget(
        { webhook: 'env:IMPORTER_TEST_ROBOT_WEBHOOK', secret: 'env:IMPORTER_TEST_ROBOT_SECRET', on: ['failed'], format },
        env,
      )!;
      const notice = {
        outcome: 'failed' as const,
        bucket: bucket ?? 'contract-test',
        key: `${prefix}robot-check`,
        by: 'test:cloud',
        at: new Date().toISOString(),
        reason: 'a contract check: nothing failed',
      };
      const r = await postWebhook(target, renderNotice(format, notice), { deadline: Date.now() + 15_000 });
      expect(r.ok, `the robot refused: ${r.code !== undefined ? `code ${r.code}, ` : ''}${r.error ?? `HTTP ${r.status}`}`);
      return `${format}, ${target.secret ? 'signed' : 'unsigned'}, taken`;
    },
  );
  if (store) for (const k of ['head.txt', 'claim.json', 'contract.qcow2']) await store.delete(`${prefix}${k}`).catch(() => undefined);
  return results;
}

if (process.argv[1]?.endsWith('cloud-contract.ts')) {
  const out = await runContract();
  for (const r of out) console.log(`${r.verdict.padEnd(8)} ${r.check}: ${r.detail}`);
  const failed = out.filter((r) => r.verdict === 'failed').length;
  console.log(
    `${out.filter((r) => r.verdict === 'ok').length} passed, ${failed} failed, ${out.filter((r) => r.verdict === 'skipped').length} skipped`,
  );
  process.exitCode = failed ? 1 : 0;
}

/** Poll DescribeSelfImages by id until the image is Available or failed (the statuses DeleteImage takes). */
async function waitForImageEnd(ens: ReturnType<typeof createEnsApi>, imageId: string, withinMs: number): Promise<string> {
  const until = Date.now() + withinMs;
  for (let wait = 500; ; wait = Math.min(wait * 2, 15_000)) {
    const r = await ens.describeSelfImages({ ImageId: imageId, PageSize: 50 }, 10_000);
    const status = r.images.find((i) => i.ImageId === imageId)?.Status ?? 'absent';
    if (status === 'Available' || FAILED.has(status) || status === 'absent') return status;
    if (Date.now() + wait > until)
      throw new Error(`${imageId} still ${status} after ${Math.round(withinMs / 1000)} s (IMPORTER_TEST_WAIT_SECONDS)`);
    await new Promise((done) => setTimeout(done, wait));
  }
}
