import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { createObjectStore, keepDotSegments } from '../../shared/adapters/oss';
import { listImageObjects } from '../../bin/commands/status';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/**
 * Keys with `.` and `..` segments are objects of their own in OSS (cloud-facts: dot segments);
 * urllib under ali-oss resolved them away, so every call on such a key failed its signature.
 * And one object's error never stops a listing of a whole prefix.
 */

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20, maxAsyncRetryAttempts: 0 });
});
afterAll(() => stack.stop());

describe('keys with dot segments', () => {
  it('are read, imported and tagged as the keys they are', async () => {
    // ossutil sends the key as it is; ali-oss needs the adapter's fix to do the same
    const uploader = ossClient(stack);
    keepDotSegments(uploader);
    const keys = ['images/ubuntu/22.04/../22.04/dots.qcow2', 'images/ubuntu/./22.04/dot.qcow2'];
    for (const key of keys) await uploader.put(key, fixture('v3.qcow2'));
    await stack.settle();
    for (const key of keys) {
      expect(stack.oss.hasObject(stack.bucket, key)).toBe(true);
      const result = stack.importResults().find((r) => r.key === key);
      expect(result?.errorCode, key).not.toBe('SignatureDoesNotMatch');
      expect(stack.oss.peekObject(stack.bucket, key)!.tags['ens:status'], key).toMatch(/importing|rejected/);
    }
    // and the resolved names were never written
    expect(stack.oss.hasObject(stack.bucket, 'images/ubuntu/22.04/dots.qcow2')).toBe(false);
  });

  it("one object's refused tag read is that object's line in status, not the end of the listing", async () => {
    const uploader = ossClient(stack);
    for (const name of ['a', 'b', 'c']) await uploader.put(`images/listing/x/${name}.qcow2`, fixture('v3.qcow2'));
    await stack.settle();
    stack.oss.faults.inject('GetObjectTagging', { keyPrefix: 'images/listing/x/b', status: 403, code: 'AccessDenied', times: 5 });
    const store = createObjectStore({
      region: stack.region,
      bucket: stack.bucket,
      endpoint: stack.endpoints.oss,
      credentials: stack.credentials,
    });
    const states = await listImageObjects(store, 'images/listing/', '.ens-importer/');
    stack.oss.faults.clear();
    expect(states.map((s) => [s.key.split('/').pop(), s.status === 'unreadable'])).toEqual([
      ['a.qcow2', false],
      ['b.qcow2', true],
      ['c.qcow2', false],
    ]);
    expect(states[1]!.error).toMatch(/AccessDenied/);
  });

  it('deploy/sample-oss-event.json (the s invoke recipe) reaches the import function and changes nothing', async () => {
    const event = readFileSync(resolve(PROJECT_ROOT, 'deploy/sample-oss-event.json'));
    const answer = (await stack.fc.invoke('ens-import-image', event)) as {
      results: { key: string; outcome: string; errorCode?: string }[];
    };
    expect(answer.results).toEqual([
      expect.objectContaining({ key: 'images/ubuntu/22.04/s-invoke-check.qcow2', outcome: 'rejected', errorCode: 'object-missing' }),
    ]);
    expect(stack.ens.callsOf('ImportImage').filter((c) => c.params.OSSObject?.includes('s-invoke-check'))).toEqual([]);
  });
});
