import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';

let stack: LocalStack;
const received = () => ((globalThis as any).__recorder ?? []) as { event: any; fn: string; context: any; greeting?: string }[];

beforeAll(async () => {
  stack = await startLocalStack({ sYaml: resolve(PROJECT_ROOT, 'test/fixtures/recorder.s.yaml'), retryBaseMs: 5 });
});
afterAll(() => stack.stop());
beforeEach(() => received().splice(0));

describe('FC stand-in wired from s.yaml', () => {
  it('reads functions and triggers from s.yaml, resolving vars and the account id', () => {
    const spec = stack.functions.find((f) => f.functionName === 'complete-only')!;
    expect(spec.ossTriggers[0]).toMatchObject({ bucket: 'uploads', region: 'cn-beijing', prefix: 'images/', suffix: '.qcow2' });
    expect(spec.maxAsyncRetryAttempts).toBe(2);
    expect(stack.bucket).toBe('uploads');
  });

  it('delivers an event as FC does: a Buffer of {events:[…]} and a context with STS keys', async () => {
    await ossClient(stack).put('images/ubuntu/22.04/web.qcow2', Buffer.from('x'), { meta: { 'ens-platform': 'ubuntu' } } as never);
    await stack.settle();
    const got = received().find((r) => r.fn === 'complete-only')!;
    const e = got.event.events[0];
    expect(e).toMatchObject({
      eventName: 'ObjectCreated:PutObject',
      eventSource: 'acs:oss',
      region: 'cn-beijing',
      oss: {
        bucket: { name: 'uploads', arn: `acs:oss:cn-beijing:${stack.accountId}:uploads` },
        object: { key: 'images/ubuntu/22.04/web.qcow2', size: 1, objectMeta: { userMeta: { 'ens-platform': 'ubuntu' } } },
      },
    });
    expect(e.oss.object.eTag).toMatch(/^[0-9A-F]{32}$/);
    expect(e.responseElements.requestId).toBeTruthy();
    expect(got.context.credentials.accessKeyId).toMatch(/^STS\./);
    expect(got.context.credentials.securityToken).toBeTruthy();
    expect(got.context).toMatchObject({
      region: 'cn-beijing',
      accountId: stack.accountId,
      function: { name: 'complete-only', timeout: 10 },
    });
    // the function's environment is handed to its invocation, never written into the process
    expect(got.greeting).toBe('hello');
    expect(process.env.GREETING).toBeUndefined();
    expect(stack.fc.logs.some((l) => l.function === 'complete-only' && l.message.includes('ObjectCreated:PutObject'))).toBe(true);
  });

  it('gives two functions running at once each its own environment, and a redeployed one a new instance', async () => {
    const entry = resolve(PROJECT_ROOT, 'test/fixtures/recorder-function.ts');
    stack.fc.register({ name: 'env-a', entry, env: { GREETING: 'from a' } });
    stack.fc.register({ name: 'env-b', entry, env: { GREETING: 'from b' } });
    await Promise.all([
      stack.fc.invoke('env-a', JSON.stringify({ pauseMs: 30 })),
      stack.fc.invoke('env-b', JSON.stringify({ pauseMs: 5 })),
    ]);
    const seen = Object.fromEntries(received().map((r) => [r.fn, r.greeting]));
    expect(seen).toMatchObject({ 'env-a': 'from a', 'env-a/after': 'from a', 'env-b': 'from b', 'env-b/after': 'from b' });
    stack.fc.register({ name: 'env-a', entry, env: { GREETING: 'changed' } });
    await stack.fc.invoke('env-a', JSON.stringify({}));
    expect(received().at(-1)).toMatchObject({ fn: 'env-a', greeting: 'changed' });
  });

  it('fires InitiateMultipartUpload, UploadPart and CompleteMultipartUpload; a CompleteMultipartUpload trigger sees one', async () => {
    await ossClient(stack).multipartUpload('images/big.qcow2', Buffer.alloc(250 * 1024, 9), { partSize: 100 * 1024 } as never);
    await stack.settle();
    const all = received()
      .filter((r) => r.fn === 'every-kind')
      .map((r) => r.event.events[0].eventName);
    expect(all).toEqual([
      'ObjectCreated:InitiateMultipartUpload',
      'ObjectCreated:UploadPart',
      'ObjectCreated:UploadPart',
      'ObjectCreated:UploadPart',
      'ObjectCreated:CompleteMultipartUpload',
    ]);
    const complete = received().filter((r) => r.fn === 'complete-only');
    expect(complete).toHaveLength(1);
    expect(complete[0]!.event.events[0].oss.object.eTag).toMatch(/-3$/);
  });

  it('applies the prefix/suffix filter and emits CopyObject and other kinds on request', async () => {
    const client = ossClient(stack);
    await client.put('images/readme.txt', Buffer.from('x'));
    await client.put('other/a.qcow2', Buffer.from('x'));
    await client.copy('images/copy.qcow2', 'images/readme.txt');
    stack.oss.notify('PostObject', 'uploads', 'images/copy.qcow2');
    await stack.settle();
    expect(received().filter((r) => r.fn === 'complete-only')).toHaveLength(0);
    expect(
      received()
        .filter((r) => r.fn === 'every-kind')
        .map((r) => r.event.events[0].eventName),
    ).toEqual(['ObjectCreated:PutObject', 'ObjectCreated:CopyObject', 'ObjectCreated:PostObject']);
  });

  it('retries a thrown async invocation up to maxAsyncRetryAttempts, then records a failed event', async () => {
    await ossClient(stack).put('images/always-fail.qcow2', Buffer.from('x'));
    await stack.settle();
    const attempts = stack.fc.invocations.filter((i) => i.function === 'complete-only' && !i.ok);
    expect(attempts.map((a) => a.attempt)).toEqual([0, 1, 2]);
    expect(stack.fc.failedEvents.find((f) => f.function === 'complete-only')).toMatchObject({ attempts: 3, error: 'boom' });
  });
});

describe('FC stand-in logs, as FC ships them to SLS', () => {
  it('prefixes console and context.logger lines with time, request id and level; stdout arrives as written', async () => {
    await stack.fc.invoke('complete-only', JSON.stringify({ events: [{ eventName: 'ObjectCreated:PutObject' }] }));
    const lines = stack.fc.logs.filter((l) => l.function === 'complete-only').slice(-3);
    const [logger, consoleLine, raw] = lines.map((l) => l.message);
    expect(logger).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f-]{36} \[INFO\] \{"got":"ObjectCreated:PutObject"\}$/);
    expect(consoleLine).toMatch(/^\S+Z [0-9a-f-]{36} \[WARN\] console line$/);
    expect(raw).toBe('{"raw":true}');
  });
});

describe('FC API stand-in: the FC 3.0 route (2023-03-30) as @alicloud/fc20230330 calls it', () => {
  it('queues an asynchronous invocation signed ACS3-HMAC-SHA256, and refuses a wrong signature', async () => {
    const { createFcInvoker } = await import('../../shared/adapters/fc');
    const target = { api: '2023-03-30' as const, accountId: stack.accountId, region: 'cn-beijing', endpoint: stack.endpoints.fc };
    const good = createFcInvoker({ ...target, credentials: stack.credentials });
    await good.invokeAsync('complete-only', JSON.stringify({ events: [{ eventName: 'ObjectCreated:PutObject' }] }));
    await stack.settle();
    expect(received().some((r) => r.fn === 'complete-only')).toBe(true);
    const forged = createFcInvoker({ ...target, credentials: { ...stack.credentials, accessKeySecret: 'not-the-secret' } });
    await expect(forged.invokeAsync('complete-only', '{}')).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(good.invokeAsync('no-such-function', '{}')).rejects.toMatchObject({ code: 'FunctionNotFound' });
  });
});
