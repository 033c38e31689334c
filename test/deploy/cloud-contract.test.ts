import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { runContract } from '../../scripts/cloud-contract';
import { FIXTURE_DIR } from '../../scripts/make-fixtures';
import { fixture } from '../helpers/fixtures';

/** `npm run test:cloud` itself, pointed at the local stack: every check runs, and passes. */

let stack: LocalStack;
const saved = { ...process.env };
beforeAll(async () => {
  fixture('v3.qcow2');
  // ENS makes the contract's image in a second here (DeleteImage waits for it, as on the cloud)
  stack = await startLocalStack({
    buckets: [{ name: 'contract-versioned' }],
    ens: { schedule: { packingAfterMs: 200, uploadingAfterMs: 400, availableAfterMs: 600 } },
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
    expect(results.map((r) => r.check)).toHaveLength(8);
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
