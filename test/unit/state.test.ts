import { describe, expect, it } from 'vitest';
import { OssCallError, withDeadline, type RawObjectStore } from '../../shared/adapters/object-store';
import { claimVersion } from '../../shared/state/claim';
import { stateLayout } from '../../shared/state/layout';
import { encodeRecord, parseRecord, StateWriteError, type ImportRecord } from '../../shared/state/records';
import { encodeConversion } from '../../shared/state/conversion-record';
import { VirtualClock } from '../helpers/virtual-clock';
import { World } from '../helpers/world';

const layout = stateLayout('.ens-importer/');

describe('OSS calls within the time left', () => {
  it('gives each call at most the time before the deadline, and gives up at it', async () => {
    // Prepare: an OSS that answers nothing within 40 s
    const clock = new VirtualClock();
    const timeouts: number[] = [];
    const slow = async (t: number) => {
      timeouts.push(t);
      await clock.sleep(Math.min(t, 40_000));
      throw new OssCallError('RequestTimeout', 'timeout', -2, true);
    };
    const raw = { bucket: 'b', getText: (_k: string, t: number) => slow(t) } as unknown as RawObjectStore;
    const deadline = clock.now() + 10_000;
    const store = withDeadline(raw, { deadline, clock });
    // Act
    const outcome = store.getText('k').then(
      () => 'answered',
      (e: OssCallError) => e.code,
    );
    await clock.run();
    // Assess
    expect(await outcome).toBe('RequestTimeout');
    expect(timeouts[0]).toBe(10_000);
    expect(clock.now()).toBeLessThanOrEqual(deadline);
  });
});

describe('the claim', () => {
  const version = { bucket: 'b', key: 'images/a.qcow2', etag: 'E' };
  const request = (clock: VirtualClock, requestId: string, uploadRequestId = 'up-1') => ({
    version,
    uploadRequestId,
    eventName: 'ObjectCreated:PutObject',
    requestId,
    deadline: clock.now() + 60_000,
    now: clock.now(),
  });

  it('lets exactly one of two concurrent claimers in', async () => {
    const clock = new VirtualClock();
    const world = new World(clock, 'b');
    const store = world.store({ id: 'x', deadline: Number.POSITIVE_INFINITY, crashed: false }, Number.POSITIVE_INFINITY);
    const both = Promise.all([
      claimVersion(store, layout, request(clock, 'a'), 60_000),
      claimVersion(store, layout, request(clock, 'b'), 60_000),
    ]);
    await clock.run();
    expect((await both).map((c) => c.kind).sort()).toEqual(['claimed', 'held']);
  });

  it('is taken over once its holder is gone, carrying the evidence that ImportImage may have been sent', async () => {
    const clock = new VirtualClock();
    const world = new World(clock, 'b');
    const store = world.store({ id: 'x', deadline: Number.POSITIVE_INFINITY, crashed: false }, Number.POSITIVE_INFINITY);
    const first = claimVersion(store, layout, request(clock, 'a'), 60_000);
    await clock.run();
    expect((await first).kind).toBe('claimed');
    clock.at(clock.now() + 61_000, () => undefined);
    await clock.run();
    const second = claimVersion(store, layout, request(clock, 'b'), 60_000);
    await clock.run();
    const taken = await second;
    expect(taken).toMatchObject({ kind: 'claimed', record: { generation: 1, requestId: 'b' } });
    expect(taken.kind === 'claimed' && taken.record.sentSince).toBe(taken.kind === 'claimed' ? taken.previous?.claimedAt : undefined);
    expect([...world.objects.keys()].filter((k) => /\.g\d+$/.test(k))).toEqual([]);
  });

  it('reads a state object only through its schema', () => {
    expect(parseRecord('{"state":"importing"}')).toBeUndefined();
    expect(parseRecord('not json')).toBeUndefined();
    expect(
      parseRecord(
        `{"state":"claimed","bucket":"b","key":"k","etag":"E","generation":0,"claimedAt":"x","claimDeadline":"2026-01-01T00:00:00Z"}`,
      ),
    ).toBeUndefined();
    expect(
      parseRecord(
        JSON.stringify({
          state: 'importing',
          bucket: 'b',
          key: 'k',
          etag: 'E',
          generation: 0,
          claimedAt: '2026-01-01T00:00:00Z',
          claimDeadline: '2026-01-01T00:00:00Z',
          imageId: 'm-ok1',
        }),
      ),
    ).toMatchObject({ imageId: 'm-ok1' });
    expect(parseRecord('x'.repeat(300_000))).toBeUndefined();
  });

  it('writes a state object only through its schema: a bad one is refused before it is sent', () => {
    // Prepare
    const good: ImportRecord = {
      state: 'importing',
      bucket: 'b',
      key: 'k',
      etag: 'E',
      generation: 0,
      claimedAt: '2026-01-01T00:00:00Z',
      claimDeadline: '2026-01-01T00:00:00Z',
      imageId: 'm-ok1',
    };
    // Act, Assess
    expect(parseRecord(encodeRecord(good))).toEqual(good);
    expect(() => encodeRecord({ ...good, imageId: 'not-an-image' })).toThrow(StateWriteError);
    expect(() => encodeRecord({ ...good, claimedAt: 'yesterday' })).toThrow(/claimedAt/);
    expect(() => encodeRecord({ ...good, reason: 'x'.repeat(300_000) })).toThrow(StateWriteError);
    expect(() => encodeConversion({ ...good, state: 'converting' } as never)).toThrow(/conversion record/);
  });

  it('sets an unreadable body aside and claims as if ImportImage may have been sent since the upload', async () => {
    // Prepare: a body the importer never wrote, where this version's record belongs
    const clock = new VirtualClock();
    const world = new World(clock, 'b');
    const store = world.store({ id: 'x', deadline: Number.POSITIVE_INFINITY, crashed: false }, Number.POSITIVE_INFINITY);
    const key = layout.claimKey(version.bucket, version.key, version.etag);
    const put = store.putText(key, '{"state":"avail');
    await clock.run();
    await put;
    const uploadedAt = clock.now() - 5_000;
    // Act
    const claim = claimVersion(store, layout, { ...request(clock, 'a'), uploadedAt }, 60_000);
    await clock.run();
    const taken = await claim;
    // Assess
    expect(taken).toMatchObject({ kind: 'claimed', invalidPrevious: true, record: { generation: 1 } });
    const record = taken.kind === 'claimed' ? taken.record : undefined;
    expect(record?.sentSince).toBe(new Date(uploadedAt).toISOString());
    expect(record?.uncertain).toMatchObject({ answered: true, code: 'state-record-unreadable' });
    expect(world.objects.get(layout.asideKey(key, 1))?.body.toString()).toBe('{"state":"avail');
  });
});
