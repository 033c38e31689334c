import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import type { RobotKind } from '../../local/webhook';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';

/**
 * DingTalk and Lark robots with signature security, as documented (cloud-facts): signed
 * messages get through, a refusal (HTTP 200, a non-zero code) is logged as one, and past the
 * robot's rate limit notices are held and sent by the tracker as one digest.
 */

const DING_SECRET = `SEC${'a1b2c3d4'.repeat(8)}`;
let stack: LocalStack | undefined;
afterEach(async () => {
  if (!stack) return;
  for (const l of stack.fc.logs) for (const s of [stack.webhook.token, DING_SECRET]) expect(l.message).not.toContain(s);
  await stack.stop();
  stack = undefined;
});

function rulesFor(format: 'dingtalk' | 'lark', perMinute?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'robot-rules-'));
  const path = join(dir, 'importer.yaml');
  const notify = `format: ${format}${perMinute ? `\n  perMinute: ${perMinute}` : ''}`;
  writeFileSync(path, readFileSync(resolve(PROJECT_ROOT, 'importer.yaml'), 'utf8').replace('format: json', notify));
  return path;
}

async function robotStack(kind: RobotKind, secret: string, functionSecret = secret, perMinute?: number): Promise<LocalStack> {
  stack = await startLocalStack({
    retryBaseMs: 20,
    maxAsyncRetryAttempts: 0,
    robot: { kind, secret },
    functionEnv: { IMPORTER_RULES: rulesFor(kind as 'dingtalk', perMinute), IMPORTER_NOTIFY_SECRET: functionSecret },
  });
  return stack;
}

const events = (s: LocalStack, event: string) =>
  s.fc.logs
    .map((l) => l.message)
    .filter((m) => m.includes(`"event":"${event}"`))
    .map((m) => JSON.parse(m) as Record<string, unknown>);

describe('chat robots with signature security', () => {
  it('DingTalk: a signed markdown message gets through', async () => {
    const s = await robotStack('dingtalk', DING_SECRET);
    await ossClient(s).put('images/ubuntu/22.04/r-bad.qcow2', fixture('raw-disk.qcow2'));
    await s.settle();
    expect(s.webhook.refused).toEqual([]);
    expect(s.webhook.received.length).toBe(1);
    expect(s.webhook.received[0]!.path).toMatch(/[?&]timestamp=\d{13}&sign=/);
    expect(events(s, 'notified').length).toBe(1);
  });

  it("DingTalk: a refusal answered with HTTP 200 is logged as notify-failed with the robot's code", async () => {
    const s = await robotStack('dingtalk', DING_SECRET, `SEC${'0'.repeat(64)}`);
    await ossClient(s).put('images/ubuntu/22.04/r-bad.qcow2', fixture('raw-disk.qcow2'));
    await s.settle();
    expect(s.webhook.received.length).toBe(0);
    expect(events(s, 'notified')).toEqual([]);
    expect(events(s, 'notify-failed')[0]).toMatchObject({ status: 200, robotCode: 310000, level: 'warn' });
  });

  it('Lark: the signature travels in the body', async () => {
    const s = await robotStack('lark', 'lark-secret-123');
    await ossClient(s).put('images/ubuntu/22.04/r-bad.qcow2', fixture('raw-disk.qcow2'));
    await s.settle();
    expect(s.webhook.refused).toEqual([]);
    expect(s.webhook.received[0]!.body).toMatchObject({ msg_type: 'text', timestamp: expect.stringMatching(/^\d{10}$/) });
  });

  it('DingTalk: past 20 a minute notices are held, then the tracker sends them as one digest', async () => {
    const s = await robotStack('dingtalk', DING_SECRET);
    const oss = ossClient(s);
    for (let i = 0; i < 24; i++) await oss.put(`images/ubuntu/22.04/r-bad-${i}.qcow2`, fixture('raw-disk.qcow2'));
    await s.settle();
    expect(s.webhook.received.length).toBe(20);
    expect(events(s, 'notify-held').length).toBe(4);
    expect(s.stateKeys('notices').length).toBe(4);
    // DingTalk refuses the robot for 10 minutes after a throttle: the digest waits for it
    s.webhook.clockOffsetMs = 11 * 60_000;
    await s.fc.fireTimers();
    const digest = s.webhook.received.at(-1)!.body as { markdown: { text: string } };
    expect(digest.markdown.text).toMatch(/^4 notices held back/);
    // every rejection reached the robot once: 20 on their own, 4 in the digest
    const told = s.webhook.received.map((r) => JSON.stringify(r.body));
    for (let i = 0; i < 24; i++) expect(told.filter((t) => t.includes(`r-bad-${i}.qcow2`)).length, `r-bad-${i}`).toBe(1);
    expect(events(s, 'notify-digest-sent')[0]).toMatchObject({ notices: 4, more: 0 });
    expect(s.stateKeys('notices')).toEqual([]);
  });

  it("DingTalk: the robot's own throttle answer (130101) holds the notice too, when the count allowed more", async () => {
    const s = await robotStack('dingtalk', DING_SECRET, DING_SECRET, 100);
    const oss = ossClient(s);
    for (let i = 0; i < 22; i++) await oss.put(`images/ubuntu/22.04/r-many-${i}.qcow2`, fixture('raw-disk.qcow2'));
    await s.settle();
    expect(s.webhook.received.length).toBe(20);
    expect(s.webhook.refused.map((r) => r.code)).toEqual([130101, 130101]);
    expect(events(s, 'notify-held').map((e) => [e.reason, e.robotCode])).toEqual([
      ['robot-throttled', 130101],
      ['robot-throttled', 130101],
    ]);
    expect(s.stateKeys('notices').length).toBe(2);
  });
});
