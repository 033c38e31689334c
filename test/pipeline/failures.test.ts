import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import type { PolicyDocument } from '../../local/ram-policy';
import { createInProcessRunner } from '../../bin/runner';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/** Failures are never invisible: retrying while FC retries, failed when it gives up or RAM refuses. */

const stacks: LocalStack[] = [];
afterAll(async () => {
  for (const s of stacks) {
    const lines = s.fc.logs.map((l) => l.message);
    for (const line of lines) for (const secret of s.secrets()) expect(line.includes(secret)).toBe(false);
    await s.stop();
  }
});

const start = async (options: Parameters<typeof startLocalStack>[0]) => {
  const stack = await startLocalStack(options);
  stacks.push(stack);
  return { stack, oss: ossClient(stack) };
};
const recordOf = (stack: LocalStack, key: string) =>
  stack
    .stateKeys('claims')
    .map((k) => JSON.parse(stack.objectText(k)!))
    .find((r) => r.key === key);
const logsOf = (stack: LocalStack, fn = 'ens-import-image') =>
  stack.fc.logs.filter((l) => l.function === fn && l.message.startsWith('{')).map((l) => JSON.parse(l.message));

const policyWithout = (action: string): PolicyDocument => {
  const shipped: PolicyDocument = JSON.parse(readFileSync('deploy/ram/function-policy.json', 'utf8'));
  return {
    Statement: shipped.Statement.map((s) => ({ ...s, Action: [s.Action].flat().filter((a) => a !== action) })).filter(
      (s) => s.Action.length,
    ),
  };
};

describe('an ENS outage', () => {
  it('tags the object retrying, caps ImportImage per invocation, then the on-failure function marks it failed', async () => {
    const { stack, oss } = await start({ retryBaseMs: 1_500, maxAsyncRetryAttempts: 1 });
    stack.ens.faults.inject('ImportImage', {
      status: 503,
      code: 'ServiceUnavailable',
      message: 'The request has failed due to a temporary failure of the server.',
    });
    const key = 'images/ubuntu/22.04/outage.qcow2';
    await oss.put(key, fixture('v3.qcow2'));
    // the first invocation has failed; FC's retry waits 1.5 s
    for (let i = 0; i < 200 && !stack.fc.invocations.some((x) => x.function === 'ens-import-image'); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'retrying', 'ens:error': 'ServiceUnavailable' });
    await stack.settle();
    const runs = stack.fc.invocations.filter((x) => x.function === 'ens-import-image');
    expect(runs.map((r) => r.ok)).toEqual([false, false]);
    // at most IMPORTER_ENS_MAX_ATTEMPTS (4) ImportImage calls per invocation, whatever time is left
    expect(stack.ens.callsOf('ImportImage').length).toBe(8);
    const ended = stack.fc.invocations.filter((x) => x.function === 'ens-import-failed');
    expect(ended).toHaveLength(1);
    expect(ended[0]!.ok).toBe(true);
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'failed', 'ens:error': 'ServiceUnavailable' });
    const record = recordOf(stack, key);
    expect(record).toMatchObject({ state: 'failed', errorCode: 'ServiceUnavailable' });
    expect(record.reason).toMatch(/FC gave up after its retries/);
    // the calls may have reached ENS: the evidence stays for the next attempt
    expect(record.sentSince).toBeTruthy();
    const given = logsOf(stack, 'ens-import-failed').find((l) => l.event === 'import-given-up');
    expect(given).toMatchObject({ outcome: 'failed', key, errorCode: 'ServiceUnavailable' });

    // ENS is back; a redelivery of the same upload stays failed, an operator's retry imports once
    stack.ens.faults.clear();
    const runner = createInProcessRunner(
      { region: stack.region, ossEndpoint: stack.endpoints.oss, ensEndpoint: stack.endpoints.ens, statePrefix: '.ens-importer/' },
      stack.credentials,
      stack.bucket,
    );
    const before = stack.ens.callsOf('DescribeSelfImages').length;
    const retried = await runner.run(key, undefined, true);
    expect(retried).toMatchObject({ outcome: 'imported' });
    expect(stack.ens.callsOf('DescribeSelfImages').length).toBeGreaterThan(before); // it looked first
    expect(recordOf(stack, key)).toMatchObject({ state: 'importing', attempt: 2, imageId: retried.imageId });
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'importing', 'ens:image-id': retried.imageId });
  });
});

describe('a RAM refusal is failed (the operator fixes it), not rejected, with the missing action named', () => {
  it('ens:ImportImage missing: failed at once, no FC retry, tagged, logged at error level', async () => {
    const { stack, oss } = await start({ retryBaseMs: 20, rolePolicies: [policyWithout('ens:ImportImage')] });
    const key = 'images/ubuntu/22.04/no-ens-grant.qcow2';
    await oss.put(key, fixture('v3.qcow2'));
    await stack.settle();
    expect(stack.fc.invocations.filter((x) => x.function === 'ens-import-image').map((x) => x.ok)).toEqual([true]);
    expect(stack.importResults().at(-1)).toMatchObject({
      outcome: 'failed',
      errorCode: 'Forbidden.RAM',
      missingAction: 'ens:ImportImage',
      retryable: false,
    });
    const line = stack.fc.logs.find((l) => l.function === 'ens-import-image' && l.message.includes('"missingAction":"ens:ImportImage"'));
    expect(line && JSON.parse(line.message).level).toBe('error');
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'failed', 'ens:error': 'Forbidden.RAM' });
    expect(recordOf(stack, key)).toMatchObject({ state: 'failed', errorCode: 'Forbidden.RAM' });
  });

  it('fc:InvokeFunction missing: a .img that needs converting ends failed, naming the action (FC answered 403)', async () => {
    const { stack, oss } = await start({ retryBaseMs: 20, rolePolicies: [policyWithout('fc:InvokeFunction')] });
    const key = 'images/ubuntu/22.04/no-invoke-grant.img';
    await oss.put(key, Buffer.alloc(1 << 20, 1));
    await stack.settle();
    expect(stack.importResults().at(-1)).toMatchObject({
      outcome: 'failed',
      errorCode: 'AccessDenied',
      missingAction: 'fc:InvokeFunction',
      retryable: false,
    });
    expect(stack.convertResults()).toEqual([]);
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'failed', 'ens:error': 'AccessDenied' });
    expect(recordOf(stack, key)).toMatchObject({ state: 'failed', errorCode: 'AccessDenied' });
  });

  it('oss:PutObjectTagging missing: the image is imported, the record holds it, the log names the action', async () => {
    const { stack, oss } = await start({ retryBaseMs: 20, rolePolicies: [policyWithout('oss:PutObjectTagging')] });
    const key = 'images/ubuntu/22.04/no-tag-grant.qcow2';
    await oss.put(key, fixture('v3.qcow2'));
    await stack.settle();
    expect(stack.importResults().at(-1)).toMatchObject({ outcome: 'imported' });
    expect(recordOf(stack, key)).toMatchObject({ state: 'importing' });
    const line = logsOf(stack).find((l) => l.event === 'tags-not-written');
    expect(line).toMatchObject({ level: 'error', errorCode: 'AccessDenied', missingAction: 'oss:PutObjectTagging' });
  });

  it('the shipped policy grants everything the functions do: import, on-failure and tracker', async () => {
    const { stack, oss } = await start({ retryBaseMs: 20, rolePolicies: true, maxAsyncRetryAttempts: 0 });
    const key = 'images/ubuntu/22.04/granted.qcow2';
    await oss.put(key, fixture('v3.qcow2'));
    await stack.settle();
    expect(stack.importResults().at(-1)).toMatchObject({ outcome: 'imported' });
    stack.ens.clock.advance(3_600_000);
    await stack.fc.fireTimers();
    expect((await oss.getObjectTagging(key)).tag['ens:status']).toBe('available');
    // a failure the on-failure function ends, under the same role
    stack.ens.faults.inject('ImportImage', { status: 503, code: 'ServiceUnavailable' });
    const other = 'images/ubuntu/22.04/granted-failing.qcow2';
    await oss.put(other, fixture('v2.qcow2'));
    await stack.settle();
    expect((await oss.getObjectTagging(other)).tag).toEqual({ 'ens:status': 'failed', 'ens:error': 'ServiceUnavailable' });
    const denied = stack.fc.logs.filter((l) => /AccessDenied|Forbidden/.test(l.message));
    expect(denied.map((l) => l.message)).toEqual([]);
  });

  it('a conversion OSS keeps failing: retrying while FC retries, then ens-import-failed ends it failed', async () => {
    const { stack, oss } = await start({ retryBaseMs: 20, rolePolicies: true, maxAsyncRetryAttempts: 1 });
    stack.oss.faults.inject('UploadPart', { status: 503, code: 'ServiceUnavailable', message: 'Please reduce your request rate.' });
    const key = 'images/ubuntu/22.04/stuck.raw';
    await oss.put(key, Buffer.alloc(2 << 20, 5));
    await stack.settle();
    // two invocations (the first and FC's one retry), each failed transiently and threw
    const lines = logsOf(stack, 'ens-convert-image').filter((l) => l.key === key);
    expect(lines.map((l) => [l.outcome, l.errorCode, l.retryable])).toEqual([
      ['failed', 'ServiceUnavailable', true],
      ['failed', 'ServiceUnavailable', true],
    ]);
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'failed', 'ens:error': 'ServiceUnavailable' });
    const record = stack
      .stateKeys('conversions')
      .map((k) => JSON.parse(stack.objectText(k)!))
      .find((r) => r.key === key);
    expect(record).toMatchObject({ state: 'failed', errorCode: 'ServiceUnavailable' });
    expect(stack.fc.logs.some((l) => l.function === 'ens-import-failed' && l.message.includes('"conversion-given-up"'))).toBe(true);
    // every attempt aborted its own upload: nothing is left open
    expect((await oss.listUploads({})).uploads).toEqual([]);
    // once OSS is healthy, the same bytes uploaded again convert (a new attempt)
    stack.oss.faults.clear('UploadPart');
    await oss.put(key, Buffer.alloc(2 << 20, 5));
    await stack.settle();
    expect(stack.convertResults().at(-1)).toMatchObject({ outcome: 'converted' });
  });

  it("the converter's own role grants everything it does, and the import role may hand a .img over", async () => {
    const { stack, oss } = await start({ retryBaseMs: 20, rolePolicies: true, maxAsyncRetryAttempts: 0 });
    const raw = Buffer.alloc(2 * 2 ** 20);
    raw.fill(9, 0, 2 ** 20);
    await oss.put('images/ubuntu/22.04/granted.raw', raw);
    await oss.put('images/ubuntu/22.04/granted-build.img', raw);
    await stack.settle();
    expect(stack.convertResults().map((r) => [r.key, r.outcome])).toEqual(
      expect.arrayContaining([
        ['images/ubuntu/22.04/granted.raw', 'converted'],
        ['images/ubuntu/22.04/granted-build.img', 'converted'],
      ]),
    );
    const imported = stack
      .importResults()
      .filter((r) => r.outcome === 'imported')
      .map((r) => r.key);
    expect(imported).toEqual(expect.arrayContaining(['images/ubuntu/22.04/granted.qcow2', 'images/ubuntu/22.04/granted-build.qcow2']));
    const denied = stack.fc.logs.filter((l) => /AccessDenied|Forbidden/.test(l.message));
    expect(denied.map((l) => l.message)).toEqual([]);
  });
});

describe('the record write fails right after ImportImage answered', () => {
  it("FC's retry says the record's truth on the object (importing, with the ImageId), with no second import", async () => {
    const { stack, oss } = await start({ retryBaseMs: 20 });
    // the claim's creation goes through; the record's write after ImportImage fails all three tries
    stack.oss.faults.inject('PutObject', { keyPrefix: '.ens-importer/claims/', skip: 1, times: 3, status: 500, code: 'InternalError' });
    const key = 'images/ubuntu/22.04/record-lost.qcow2';
    await oss.put(key, fixture('v3.qcow2'));
    await stack.settle();
    const runs = stack.fc.invocations.filter((x) => x.function === 'ens-import-image');
    expect(runs.map((r) => r.ok)).toEqual([false, true]);
    const first = logsOf(stack).find((l) => l.key === key && l.outcome === 'failed');
    expect(first).toMatchObject({ errorCode: 'InternalError', retryable: true });
    expect(stack.ens.callsOf('ImportImage')).toHaveLength(1);
    const imageId = recordOf(stack, key).imageId;
    expect(imageId).toMatch(/^m-/);
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'importing', 'ens:image-id': imageId });
  });
});
