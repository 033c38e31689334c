import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { importResults, recordFor, stateKeys } from '../helpers/state';

let stack: LocalStack;
let oss: any;
const TRACKER = 'ens-track-imports';

beforeEach(async () => {
  stack = await startLocalStack({
    retryBaseMs: 20,
    functionEnv: { IMPORTER_MISSING_GRACE_MINUTES: '10', IMPORTER_IMPORT_TIMEOUT_HOURS: '6' },
  });
  oss = ossClient(stack);
});
afterEach(async () => {
  const secrets = [...stack.secrets(), ...[...stack.fc.functions.keys()].map((n) => stack.fc.credentialsFor(n).accessKeyId)];
  for (const l of stack.fc.logs) for (const s of secrets) expect(l.message.includes(s)).toBe(false);
  await stack.stop();
});

const uploadAll = async (keys: string[]) => {
  for (const k of keys) await oss.put(k, fixture('v3.qcow2'));
  await stack.settle();
  return keys.map((k) => importResults(stack).find((r) => r.key === k)!.imageId as string);
};
const track = async () => (await stack.fc.invoke(TRACKER, '{}')) as any;
const setTrackerEnv = (env: Record<string, string>) => {
  const fn = stack.fc.functions.get(TRACKER)!;
  stack.fc.register({ ...fn, env: { ...fn.env, ...env } });
};
const tags = async (key: string) => (await oss.getObjectTagging(key)).tag;
const describeCalls = () => stack.ens.callsOf('DescribeSelfImages').length;

describe('track-imports', () => {
  it('is wired in s.yaml with a timer trigger', () => {
    const spec = stack.functions.find((f) => f.functionName === TRACKER)!;
    expect(spec.timerTriggers[0]).toMatchObject({ cronExpression: '0 */5 * * * *', enable: true });
  });

  it('leaves imports that are still running alone, then marks them available with the tags updated', async () => {
    const keys = ['images/ubuntu/22.04/a.qcow2', 'images/ubuntu/22.04/b.qcow2'];
    const ids = await uploadAll(keys);
    expect(stateKeys(stack, 'pending')).toHaveLength(2);
    stack.ens.clock.advance(90_000); // Packing
    let summary = await track();
    expect(summary).toMatchObject({ pending: 2, changed: 0, counts: { importing: 2 } });
    stack.ens.clock.advance(300_000);
    // the owner tags the object meanwhile (the console): the tracker keeps the tag
    stack.oss.setObjectTags(stack.bucket, keys[0]!, { ...stack.oss.peekObject(stack.bucket, keys[0]!)!.tags, owner: 'ops' });
    summary = await track();
    expect(summary).toMatchObject({ pending: 2, changed: 2, counts: { available: 2 }, complete: true });
    expect(await tags(keys[0]!)).toEqual({ owner: 'ops', 'ens:image-id': ids[0], 'ens:status': 'available' });
    const record = recordFor(stack, keys[1]!);
    expect(record.state).toBe('available');
    expect(record.history.map((h: any) => h.state)).toEqual(['claimed', 'importing', 'available']);
    expect(stateKeys(stack, 'pending')).toHaveLength(0);
    const change = stack.fc.logs.map((l) => JSON.parse(l.message)).find((l) => l.event === 'import-status');
    expect(change).toMatchObject({ from: 'importing', to: 'available', ensStatus: 'Available' });
    expect(stack.fc.logs.some((l) => l.message.includes('"event":"track-summary"'))).toBe(true);
  });

  it('ends each failure status as failed with that status as ens:error', async () => {
    const statuses = ['Pack_failed', 'Upload_failed', 'Unavailable'] as const;
    const keys = statuses.map((s) => `images/ubuntu/22.04/${s.toLowerCase()}.qcow2`);
    const ids = await uploadAll(keys);
    for (const [i, s] of statuses.entries()) stack.ens.failImage(ids[i]!, s);
    const summary = await track();
    expect(summary).toMatchObject({ changed: 3, counts: { failed: 3 } });
    for (const [i, s] of statuses.entries()) {
      expect(await tags(keys[i]!)).toEqual({ 'ens:image-id': ids[i], 'ens:status': 'failed', 'ens:error': s });
      expect(recordFor(stack, keys[i]!)).toMatchObject({ state: 'failed', errorCode: s });
    }
  });

  it('fails an import pending past the deadline with import-timeout', async () => {
    const [id] = await uploadAll(['images/ubuntu/22.04/slow.qcow2']);
    setTrackerEnv({ IMPORTER_IMPORT_TIMEOUT_HOURS: String(0.05 / 3600) });
    await new Promise((r) => setTimeout(r, 120));
    await track();
    expect(await tags('images/ubuntu/22.04/slow.qcow2')).toEqual({
      'ens:image-id': id,
      'ens:status': 'failed',
      'ens:error': 'import-timeout',
    });
  });

  it('fails an ImageId ENS no longer knows with image-missing, after the grace period', async () => {
    const [id] = await uploadAll(['images/ubuntu/22.04/gone.qcow2']);
    // ENS drops the import it was making (DeleteImage itself refuses an image not yet made)
    stack.ens.forgetImage(id!);
    expect(await track()).toMatchObject({ changed: 0 });
    setTrackerEnv({ IMPORTER_MISSING_GRACE_MINUTES: '0' });
    await track();
    expect(await tags('images/ubuntu/22.04/gone.qcow2')).toMatchObject({ 'ens:status': 'failed', 'ens:error': 'image-missing' });
  });

  it('resolves 120 pending imports with at most 3 DescribeSelfImages calls per run', async () => {
    const keys = Array.from({ length: 120 }, (_, i) => `images/ubuntu/22.04/bulk-${i}.qcow2`);
    await uploadAll(keys);
    expect(stateKeys(stack, 'pending')).toHaveLength(120);
    let before = describeCalls();
    const first = await track();
    expect(describeCalls() - before).toBeLessThanOrEqual(3);
    expect(first).toMatchObject({ pending: 120, changed: 0 });
    stack.ens.clock.advance(301_000);
    before = describeCalls();
    const second = await track();
    expect(describeCalls() - before).toBeLessThanOrEqual(3);
    expect(second).toMatchObject({ pending: 120, changed: 120, counts: { available: 120 } });
    expect(stateKeys(stack, 'pending')).toHaveLength(0);
  });

  it('keeps state consistent when two runs overlap', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `images/ubuntu/22.04/overlap-${i}.qcow2`);
    await uploadAll(keys);
    stack.ens.clock.advance(301_000);
    stack.ens.faults.inject('DescribeSelfImages', { latencyMs: 150, times: 1 });
    const [a, b] = await Promise.all([track(), track()]);
    expect([a.changed + b.changed, [a.skipped, b.skipped].filter(Boolean).length]).toEqual([10, 1]);
    for (const k of keys) {
      const r = recordFor(stack, k);
      expect(r.history.filter((h: any) => h.state === 'available')).toHaveLength(1);
      expect((await tags(k))['ens:status']).toBe('available');
    }
    // and the lock is released for the next run
    expect(stack.oss.peekObject(stack.bucket, '.ens-importer/tracker.lock')).toBeUndefined();
  });

  it('copes with a source object deleted meanwhile', async () => {
    const [id] = await uploadAll(['images/ubuntu/22.04/deleted.qcow2']);
    await oss.delete('images/ubuntu/22.04/deleted.qcow2');
    stack.ens.clock.advance(301_000);
    expect(await track()).toMatchObject({ changed: 1, errors: 0 });
    expect(recordFor(stack, 'images/ubuntu/22.04/deleted.qcow2')).toMatchObject({ state: 'available', imageId: id });
  });

  it('retries transient ENS and OSS faults and loses nothing', async () => {
    const keys = ['images/ubuntu/22.04/t1.qcow2', 'images/ubuntu/22.04/t2.qcow2'];
    await uploadAll(keys);
    stack.ens.clock.advance(301_000);
    stack.ens.faults.inject('DescribeSelfImages', { status: 503, code: 'ServiceUnavailable', times: 1 });
    stack.ens.faults.inject('DescribeSelfImages', { status: 502, html: true, times: 1 });
    stack.oss.faults.inject('PutObjectTagging', { status: 500, code: 'InternalError', times: 1 });
    stack.oss.faults.inject('ListObjectsV2', { drop: true, times: 1 });
    expect(await track()).toMatchObject({ changed: 2, errors: 0, complete: true });
    for (const k of keys) expect((await tags(k))['ens:status']).toBe('available');
  });

  it('stops before the function times out; the next run continues without losing an import', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `images/ubuntu/22.04/late-${i}.qcow2`);
    await uploadAll(keys);
    stack.ens.clock.advance(301_000);
    const fn = stack.fc.functions.get(TRACKER)!;
    stack.fc.register({ ...fn, timeoutSeconds: 2 });
    // each record read is slow: even 8 at once, the run cannot apply all 60 changes within its
    // 1.5 s budget (60 x 400 ms / 8 = 3 s)
    stack.oss.faults.inject('GetObject', { latencyMs: 400, times: 60 });
    const first = await track();
    expect(first.complete).toBe(false);
    expect(first.changed).toBeGreaterThan(0);
    expect(first.changed).toBeLessThan(60);
    expect(stack.fc.invocations.filter((i) => i.function === TRACKER).at(-1)!.ok).toBe(true);
    let total = first.changed;
    for (let run = 0; run < 5 && stateKeys(stack, 'pending').length; run++) total += (await track()).changed;
    // nothing lost: every import ended available, and the index is empty
    expect(stateKeys(stack, 'pending')).toHaveLength(0);
    for (const k of keys) expect((await tags(k))['ens:status']).toBe('available');
    // and nothing counted twice: a change a killed run had written is finished, not re-counted
    expect(total).toBeLessThanOrEqual(60);
  });
});
