import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { suffixed } from '../../shared/import/image-name-choice';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { importResults, recordFor } from '../helpers/state';

/** Two keys must not silently make two images of one name (names: unique, the default). */

let stack: LocalStack;
let oss: any;
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20 });
  oss = ossClient(stack);
});
afterAll(() => stack.stop());

const upload = async (key: string, meta?: Record<string, string>, version = '') => {
  await oss.put(key, Buffer.concat([fixture('v3.qcow2'), Buffer.from(key + version)]), meta ? { meta } : undefined);
  await stack.settle();
  return importResults(stack)
    .filter((r) => r.key === key)
    .at(-1)!;
};

describe('image names across keys', () => {
  it('gives a derived name another key holds a short stable suffix of the key, and records where it came from', async () => {
    const first = await upload('images/ubuntu/22.04/web.qcow2');
    expect(first).toMatchObject({ outcome: 'imported', imageName: 'web' });
    const otherKey = 'images/team-b/ubuntu/22.04/web.qcow2';
    const second = await upload(otherKey);
    const expected = suffixed('web', stack.bucket, otherKey);
    expect(expected).toMatch(/^web-[0-9a-f]{6}$/);
    expect(second).toMatchObject({ outcome: 'imported', imageName: expected });
    expect(recordFor(stack, otherKey).params.ImageName).toMatchObject({ value: expected, source: 'convention', original: 'web' });
    // a newer version of the first key keeps its own name: the older image is this key's own
    const again = await upload('images/ubuntu/22.04/web.qcow2', undefined, 'v2');
    expect(again).toMatchObject({ outcome: 'imported', imageName: 'web' });
  });

  it('refuses a name given in metadata that another key holds, with the reason', async () => {
    await upload('images/ubuntu/22.04/api.qcow2');
    const r = await upload('images/ubuntu/22.04/api-copy.qcow2', { 'ens-image-name': 'api' });
    expect(r).toMatchObject({ outcome: 'rejected', errorCode: 'image-name-taken' });
    expect(r.reason).toMatch(/held by image m-/);
    expect((await oss.getObjectTagging('images/ubuntu/22.04/api-copy.qcow2')).tag).toEqual({
      'ens:status': 'rejected',
      'ens:error': 'image-name-taken',
    });
  });
});
