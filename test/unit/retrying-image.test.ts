import { describe, expect, it } from 'vitest';
import { processObjectEvent } from '../../shared/import/pipeline';
import { readImportConfig } from '../../shared/runtime/config';
import { createLogger } from '../../shared/runtime/logger';
import { VirtualClock } from '../helpers/virtual-clock';
import { World, type FaultKind } from '../helpers/world';

/**
 * The record write fails right after ImportImage answered: the object says `retrying` and keeps
 * the ImageId the attempt already has, and FC's retry ends it `importing` with that image, no
 * second import. In the in-memory world, the fault placed at the record write by call number.
 */

const config = readImportConfig({}, process.cwd());
// a qcow2 v3 header: magic, version 3, no backing file, 64 KiB clusters, 1 GiB, header length 104
function qcow2(): Buffer {
  const b = Buffer.alloc(512);
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(3, 4);
  b.writeUInt32BE(16, 20);
  b.writeBigUInt64BE(1n << 30n, 24);
  b.writeUInt32BE(104, 100);
  return b;
}

async function attempt(world: World, clock: VirtualClock, key: string, etag: string, id: string) {
  const bucket = world.bucket;
  const caller = { id, deadline: clock.now() + 60_000, crashed: false };
  const run = processObjectEvent(
    { eventName: 'ObjectCreated:PutObject', region: 'cn-beijing', bucket, key, etag, size: 512, requestId: 'up-1' },
    {
      config,
      store: world.store(caller, caller.deadline),
      ens: world.ens(caller),
      log: createLogger(() => undefined, {}, []),
      requestId: id,
      deadline: caller.deadline,
      clock,
    },
  );
  await clock.run();
  return run;
}

describe('a record write that fails right after ImportImage answered', () => {
  it("leaves the object retrying with the ImageId, and FC's retry says the record's truth on the object", async () => {
    // Prepare: a clean run, to find the record write's call number
    const key = 'images/ubuntu/22.04/late-record.qcow2';
    const probeClock = new VirtualClock();
    // buckets of their own: the bucket's versioning is read once and kept a while, per bucket
    const probe = new World(probeClock, 'probe-bucket');
    const o = probe.put(key, qcow2());
    await attempt(probe, probeClock, key, o.etag, 'probe');
    // ImportImage, the pending entry, the tags, then the record: the last PutObject of the run
    const calls = probe.callLog.map((c) => c.split(' ')[2]);
    expect(calls.slice(-4)).toEqual(['ImportImage', 'PutObject', 'PutObjectTagging', 'PutObject']);
    const recordCall = calls.length - 1;
    // Act: the same upload, the record write failing until the deadline
    const clock = new VirtualClock();
    // the store tries an operation 3 times: all three fail
    const faults = new Map<number, FaultKind>([0, 1, 2].map((n) => [recordCall + n, 'fail-once']));
    const world = new World(clock, 'fault-bucket', faults);
    const obj = world.put(key, qcow2());
    const first = await attempt(world, clock, key, obj.etag, 'inv-1');
    // Assess
    expect(first).toMatchObject({ outcome: 'failed', retryable: true });
    const made = world.images.filter((i) => i.key === key);
    expect(made).toHaveLength(1);
    expect(Object.fromEntries(world.objects.get(key)!.tags)).toMatchObject({ 'ens:status': 'retrying', 'ens:image-id': made[0]!.id });
    clock.at(clock.now() + 120_000, () => undefined);
    await clock.run();
    const retried = await attempt(world, clock, key, obj.etag, 'inv-2');
    // the record was written after all (the attempt released its claim with it): a duplicate that says it again
    expect(retried).toMatchObject({ outcome: 'duplicate', imageId: made[0]!.id });
    expect(world.images.filter((i) => i.key === key)).toHaveLength(1);
    expect(Object.fromEntries(world.objects.get(key)!.tags)).toMatchObject({ 'ens:status': 'importing', 'ens:image-id': made[0]!.id });
  });
});
