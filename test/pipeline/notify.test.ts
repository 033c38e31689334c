import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { renderNotice, resolveNotifyTarget } from '../../shared/core/notification';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/** importer.yaml `notify:` — told by the function that decides the outcome, the token never logged. */

let stack: LocalStack;
let oss: any;
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20, maxAsyncRetryAttempts: 0 });
  oss = ossClient(stack);
});
afterAll(async () => {
  for (const l of stack.fc.logs) expect(l.message).not.toContain(stack.webhook.token);
  await stack.stop();
});

const bodies = () => stack.webhook.received.map((r) => r.body as Record<string, string>);

describe('notifications', () => {
  it('rejected (import function), failed (on-failure function) and available (tracker), each once', async () => {
    await oss.put('images/ubuntu/22.04/n-good.qcow2', fixture('v3.qcow2'));
    await oss.put('images/ubuntu/22.04/n-bad.qcow2', fixture('raw-disk.qcow2'));
    await stack.settle();
    stack.ens.faults.inject('ImportImage', { status: 503, code: 'ServiceUnavailable' });
    await oss.put('images/ubuntu/22.04/n-down.qcow2', fixture('v2.qcow2'));
    await stack.settle();
    stack.ens.faults.clear();
    stack.ens.clock.advance(3_600_000);
    await stack.fc.fireTimers();
    const got = bodies().map((b) => `${b.outcome} ${b.key} ${b.by}`);
    expect(got.sort()).toEqual([
      'available images/ubuntu/22.04/n-good.qcow2 tracker',
      'failed images/ubuntu/22.04/n-down.qcow2 on-failure',
      'rejected images/ubuntu/22.04/n-bad.qcow2 import',
    ]);
    expect(bodies().find((b) => b.outcome === 'failed')).toMatchObject({ errorCode: 'ServiceUnavailable', event: 'ens-import-outcome' });
    expect(stack.webhook.received[0]!.path).toContain(stack.webhook.token);
    // the log names the receiver by its origin only
    const sent = stack.fc.logs.filter((l) => l.message.includes('"event":"notified"'));
    expect(sent.length).toBe(3);
    expect(JSON.parse(sent[0]!.message).receiver).toBe(stack.webhook.endpoint);
  });

  it('retries a receiver that is down, then logs notify-failed without failing the import', async () => {
    stack.webhook.failNext = { status: 503, times: 3 };
    await oss.put('images/ubuntu/22.04/n-bad-2.qcow2', fixture('raw-disk.qcow2'));
    await stack.settle();
    const last = stack.importResults().at(-1)!;
    expect(last).toMatchObject({ outcome: 'rejected' });
    const line = stack.fc.logs.map((l) => l.message).find((m) => m.includes('"event":"notify-failed"'));
    expect(JSON.parse(line!)).toMatchObject({ attempts: 3, status: 503, level: 'warn' });
  });
});

describe('rendering', () => {
  const notice = {
    outcome: 'failed' as const,
    bucket: 'b',
    key: 'images/x.qcow2',
    errorCode: 'Forbidden.RAM',
    reason: 'r',
    by: 'import',
    at: 't',
  };
  it('speaks DingTalk, Lark and JSON', () => {
    expect(JSON.parse(renderNotice('dingtalk', notice))).toMatchObject({ msgtype: 'markdown', markdown: { title: 'ENS import failed' } });
    expect(JSON.parse(renderNotice('lark', notice)).content.text).toContain('ens-importer why oss://b/images/x.qcow2');
    expect(JSON.parse(renderNotice('json', notice))).toMatchObject({ outcome: 'failed', errorCode: 'Forbidden.RAM' });
  });
  it('is off without a URL, reads env: references, and refuses a malformed URL or secret at load without showing it', () => {
    const config = (webhook: string, format: 'json' | 'dingtalk' | 'lark' = 'json', secret?: string) => ({
      webhook,
      on: ['failed' as const],
      format,
      ...(secret ? { secret } : {}),
    });
    expect(resolveNotifyTarget(undefined, {})).toBeUndefined();
    expect(resolveNotifyTarget(config('env:HOOK'), {})).toBeUndefined();
    expect(resolveNotifyTarget(config('env:HOOK'), { HOOK: 'https://x/y' })?.url).toBe('https://x/y');
    const refused = (c: ReturnType<typeof config>, env: Record<string, string> = {}) => {
      try {
        resolveNotifyTarget(c, env);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused(config('ftp://token-123@x'))).toMatch(/not an http\(s\) URL/);
    expect(refused(config('env:HOOK'), { HOOK: 'https//oapi?access_token=token-123' })).toMatch(/notify.webhook \(env:HOOK\) is not/);
    expect(refused(config('https://x/y', 'dingtalk', 'token-123-not-SEC'))).toMatch(/start with SEC/);
    expect(refused(config('https://x/y', 'lark', 'env:S'), { S: 'has space 123' })).toMatch(/printable ASCII/);
    expect(refused(config('https://x/y', 'json', 'SECabcdef12'))).toMatch(/format json has no signature/);
    for (const m of [refused(config('ftp://token-123@x')), refused(config('https://x/y', 'dingtalk', 'token-123-not-SEC'))])
      expect(m).not.toContain('token-123');
  });

  it('makes hostile keys inert for each robot: no link, image, mention or control character', () => {
    const key = 'images/a/[click](http://evil)/![i](http://x)/@all <at user_id="all">x</at>\u001b[31m\u202e.qcow2';
    const ding = JSON.parse(renderNotice('dingtalk', { ...notice, key, reason: '@all **bold**' })).markdown.text as string;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for them
    expect(ding).not.toMatch(/[^\\]\]\(|@all|\u001b|\u202e|[^\\]\*\*/);
    expect(ding).toContain('＠all');
    const lark = JSON.parse(renderNotice('lark', { ...notice, key })).content.text as string;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for them
    expect(lark).not.toMatch(/<at|@all|\u001b/);
    // JSON receivers get the key exactly: it is data there
    expect(JSON.parse(renderNotice('json', { ...notice, key })).key).toBe(key);
  });
});
