import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { runContract } from '../../scripts/cloud-contract';
import { FIXTURE_DIR } from '../../scripts/make-fixtures';
import { fixture } from '../helpers/fixtures';

/** `npm run test:cloud` itself, pointed at the local stack: every check runs, and passes. */

let stack: LocalStack;
const ROBOT_SECRET = `SEC${'5e'.repeat(32)}`;
const saved = { ...process.env };
beforeAll(async () => {
  fixture('v3.qcow2');
  // ENS makes the contract's image in a second here (DeleteImage waits for it, as on the cloud)
  stack = await startLocalStack({
    buckets: [{ name: 'contract-versioned' }],
    ens: { schedule: { packingAfterMs: 200, uploadingAfterMs: 400, availableAfterMs: 600 } },
    // a DingTalk robot with signature security for the robot check; the functions' own notices stay JSON
    robot: { kind: 'dingtalk', secret: ROBOT_SECRET },
    functionEnv: { IMPORTER_NOTIFY_SECRET: '' },
  });
  stack.oss.setVersioning('contract-versioned', 'Enabled');
  Object.assign(process.env, {
    ALIBABA_CLOUD_ACCESS_KEY_ID: stack.credentials.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: stack.credentials.accessKeySecret,
    ALIBABA_CLOUD_ACCOUNT_ID: stack.accountId,
    IMPORTER_TEST_BUCKET: stack.bucket,
    IMPORTER_TEST_VERSIONED_BUCKET: 'contract-versioned',
    IMPORTER_TEST_IMAGE: `${FIXTURE_DIR}/v3.qcow2`,
    IMPORTER_TEST_FUNCTION: 'ens-import-image',
    OSS_ENDPOINT: stack.endpoints.oss,
    ENS_ENDPOINT: stack.endpoints.ens,
    IMPORTER_FC_ENDPOINT: stack.endpoints.fc,
    IMPORTER_TEST_ROBOT_WEBHOOK: stack.webhook.url,
    IMPORTER_TEST_ROBOT_FORMAT: 'dingtalk',
    IMPORTER_TEST_ROBOT_SECRET: ROBOT_SECRET,
  });
});
afterAll(async () => {
  process.env = saved;
  await stack.stop();
});

describe('npm run test:cloud', () => {
  it('runs every check against an account that has everything, and they pass', async () => {
    const results = await runContract();
    expect(results.filter((r) => r.verdict !== 'ok')).toEqual([]);
    expect(results.map((r) => r.check)).toHaveLength(9);
    // the robot verified the signature (it refuses an unsigned or wrongly signed message)
    expect(stack.webhook.refused).toEqual([]);
    expect(stack.webhook.received.some((r) => JSON.stringify(r.body).includes('robot-check'))).toBe(true);
    await stack.settle();
    expect(stack.importResults().some((r) => r.errorCode === 'event-kind')).toBe(true);
  });

  it('says what it skipped when given nothing', async () => {
    const keep = { ...process.env };
    delete process.env.ALIBABA_CLOUD_ACCESS_KEY_ID;
    try {
      expect(await runContract()).toEqual([{ check: 'everything', verdict: 'skipped', detail: expect.stringContaining('no credentials') }]);
    } finally {
      process.env = keep;
    }
  });
});
