import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { stateLayout } from '../../shared/state/layout';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/**
 * Anyone who can upload can write under the state prefix. What the functions wrote carries an
 * HMAC with a key uploaders cannot read (IMPORTER_STATE_KEY); a well-formed forgery fails it,
 * is logged and kept for `why`, and never skips or ends an import.
 */

let stack: LocalStack;
const layout = stateLayout('.ens-importer/');
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20 });
});
afterAll(() => stack.stop());

const logEvents = (event: string) =>
  stack.fc.logs
    .map((l) => l.message)
    .filter((m) => m.includes(`"event":"${event}"`))
    .map((m) => JSON.parse(m) as Record<string, string>);

describe('state records that cannot be forged', () => {
  it('a forged "available" record for an upload to come does not skip its import', async () => {
    const key = 'images/ubuntu/22.04/forged.qcow2';
    const body = fixture('v3.qcow2');
    const etag = createHash('md5').update(body).digest('hex').toUpperCase();
    const claimKey = layout.claimKey(stack.bucket, key, etag);
    const forged = {
      state: 'available',
      bucket: stack.bucket,
      key,
      etag,
      generation: 0,
      claimedAt: new Date().toISOString(),
      claimDeadline: new Date().toISOString(),
      imageId: 'm-forged',
      imageName: 'forged',
    };
    const oss = ossClient(stack);
    await oss.put(claimKey, Buffer.from(JSON.stringify(forged)));
    await oss.put(key, body);
    await stack.settle();
    const tags = stack.oss.peekObject(stack.bucket, key)!.tags;
    expect(tags['ens:image-id']).toMatch(/^m-/);
    expect(tags['ens:image-id']).not.toBe('m-forged');
    expect(stack.ens.listImages().filter((i) => i.params.OSSObject === key).length).toBe(1);
    expect(logEvents('state-unverified')).toContainEqual(expect.objectContaining({ key: claimKey, reason: 'unsigned' }));
    // kept for why: the forged body as it was found, beside the claim that replaced it
    const aside = stack.oss.objectKeys(stack.bucket, `${claimKey}.unreadable.`);
    expect(aside.length).toBe(1);
    expect(stack.objectText(aside[0]!)).toContain('"m-forged"');
  });

  it("a signed record copied to another version's key fails too (the key is in the MAC)", async () => {
    const oss = ossClient(stack);
    const first = 'images/ubuntu/22.04/copied-a.qcow2';
    await oss.put(first, fixture('v3.qcow2'));
    await stack.settle();
    const firstClaim = layout.claimKey(stack.bucket, first, stack.oss.peekObject(stack.bucket, first)!.etag.toUpperCase());
    const second = 'images/ubuntu/22.04/copied-b.qcow2';
    const body = fixture('v2.qcow2');
    const secondClaim = layout.claimKey(stack.bucket, second, createHash('md5').update(body).digest('hex').toUpperCase());
    // the stored bytes, MAC line and all, under the other version's claim key
    await oss.copy(secondClaim, firstClaim);
    await oss.put(second, body);
    await stack.settle();
    expect(logEvents('state-unverified')).toContainEqual(expect.objectContaining({ key: secondClaim, reason: 'mac-mismatch' }));
    expect(stack.ens.listImages().filter((i) => i.params.OSSObject === second).length).toBe(1);
  });
});
