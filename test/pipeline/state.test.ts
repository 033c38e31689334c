import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { createEnsApi } from '../../shared/adapters/ens';
import { createObjectStore } from '../../shared/adapters/oss';
import { readImportConfig } from '../../shared/runtime/config';
import { createLogger } from '../../shared/runtime/logger';
import { processObjectEvent, type PipelineDeps } from '../../shared/import/pipeline';
import { stateLayout } from '../../shared/state/layout';
import { trackImports } from '../../shared/track/tracker';
import { fixture } from '../helpers/fixtures';
import { objectText, recordFor } from '../helpers/state';

/** The state layer against the local stack: versioned buckets, forged and broken state objects. */

let stack: LocalStack;
const lines: string[] = [];
const layout = stateLayout('.ens-importer/');

beforeAll(async () => {
  stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images' }, { name: 'versioned' }] });
});
afterAll(() => stack.stop());

function deps(bucket = 'ens-images'): PipelineDeps {
  const credentials = stack.credentials;
  return {
    config: readImportConfig({ OSS_ENDPOINT: stack.endpoints.oss, ENS_ENDPOINT: stack.endpoints.ens }, process.cwd()),
    store: createObjectStore({ region: 'cn-beijing', bucket, endpoint: stack.endpoints.oss, credentials }),
    ens: createEnsApi(stack.endpoints.ens, credentials),
    log: createLogger((l) => lines.push(l), {}, [credentials.accessKeySecret]),
    requestId: `inv-${Math.random().toString(36).slice(2)}`,
    deadline: Date.now() + 20_000,
  };
}
const eventFor = (key: string, bucket = 'ens-images', requestId = 'upload-1') => {
  const o = stack.oss.peekObject(bucket, key)!;
  return { eventName: 'ObjectCreated:PutObject', region: 'cn-beijing', bucket, key, etag: o.etag.toUpperCase(), size: o.size, requestId };
};
const imagesOf = (key: string) => stack.ens.listImages().filter((i) => i.params.OSSObject === key);

describe('the state layer', () => {
  it('refuses, loudly and without importing, a bucket with versioning (forbid-overwrite does not hold there)', async () => {
    stack.oss.setVersioning('versioned', 'Enabled');
    const key = 'images/ubuntu/22.04/versioned.qcow2';
    stack.oss.seedObject('versioned', key, fixture('v3.qcow2'));
    const r = await processObjectEvent(eventFor(key, 'versioned'), deps('versioned'));
    expect(r).toMatchObject({ outcome: 'failed', errorCode: 'bucket-versioning' });
    expect(r.reason).toMatch(/versioning Enabled/);
    expect(imagesOf(key)).toHaveLength(0);
    expect(lines.some((l) => l.includes('"level":"error"') && l.includes('bucket-versioning'))).toBe(true);
    // and the stand-in behaves as OSS does there: a create-if-absent overwrites
    const store = deps('versioned').store;
    expect(await store.createIfAbsent('.ens-importer/x', 'a')).toBe(true);
    expect(await store.createIfAbsent('.ens-importer/x', 'b')).toBe(true);
  });

  it('sets a garbage claim aside (kept), searches ENS before importing, and imports once', async () => {
    const key = 'images/ubuntu/22.04/garbage-claim.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    const e = eventFor(key);
    const claimKey = layout.claimKey('ens-images', key, e.etag);
    const garbage = '{"state":"importing","imageId":"m-forged"';
    stack.oss.seedObject('ens-images', claimKey, Buffer.from(garbage));
    const calls = () => stack.ens.calls.map((c) => c.action).filter((a) => a === 'DescribeSelfImages' || a === 'ImportImage');
    const before = calls().length;
    const r = await processObjectEvent(e, deps());
    expect(r).toMatchObject({ outcome: 'imported' });
    expect(imagesOf(key)).toHaveLength(1);
    // not read as stale: the unreadable body may hide a sent ImportImage, so ENS was asked first
    const made = calls().slice(before);
    expect(made.at(0)).toBe('DescribeSelfImages');
    expect(made.filter((a) => a === 'ImportImage')).toHaveLength(1);
    expect(made.at(-1)).toBe('ImportImage');
    expect(objectText(stack, layout.asideKey(claimKey, 1), 'ens-images')).toBe(garbage);
    expect(lines.some((l) => l.includes('state-object-invalid') && l.includes(layout.asideKey(claimKey, 1)))).toBe(true);
  });

  it('does not honour a claim held until 2099, nor a tracker lock held until 2099', async () => {
    const key = 'images/ubuntu/22.04/forever-claim.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    const e = eventFor(key);
    const forged = {
      state: 'claimed',
      bucket: 'ens-images',
      key,
      etag: e.etag,
      generation: 0,
      claimedAt: new Date().toISOString(),
      claimDeadline: '2099-01-01T00:00:00Z',
      requestId: 'evil',
    };
    stack.oss.seedObject('ens-images', layout.claimKey('ens-images', key, e.etag), Buffer.from(JSON.stringify(forged)));
    expect(await processObjectEvent(e, deps())).toMatchObject({ outcome: 'imported' });
    stack.oss.seedObject(
      'ens-images',
      layout.trackerLockKey,
      Buffer.from(JSON.stringify({ holder: 'evil', until: '2099-01-01T00:00:00Z', generation: 0 })),
    );
    const d = deps();
    const summary = await trackImports({
      settings: { statePrefix: '.ens-importer/', importTimeoutMs: 3_600_000, missingGraceMs: 600_000, pageSize: 50 },
      store: d.store,
      ens: d.ens,
      log: d.log,
      requestId: 'tracker',
      runDeadline: Date.now() + 10_000,
    });
    expect(summary.skipped).toBeUndefined();
    expect(stack.oss.peekObject('ens-images', layout.trackerLockKey)).toBeUndefined();
  });

  it('starts a new attempt for a new upload of a rejected version, and keeps its history', async () => {
    const key = 'images/ubuntu/22.04/bad-name.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'), undefined, { 'ens-image-name': '1bad' });
    expect(await processObjectEvent(eventFor(key), deps())).toMatchObject({ outcome: 'rejected', errorCode: 'InvalidParameter.ImageName' });
    // a redelivery of that upload stays a duplicate
    expect(await processObjectEvent(eventFor(key), deps())).toMatchObject({ outcome: 'duplicate' });
    // the operator fixes the metadata in place (CopyObject onto itself): same bytes, same ETag
    stack.oss.replaceObjectMeta('ens-images', key, { 'ens-image-name': 'good-name' });
    const again = await processObjectEvent({ ...eventFor(key, 'ens-images', 'upload-2'), eventName: 'ObjectCreated:CopyObject' }, deps());
    expect(again).toMatchObject({ outcome: 'imported', imageName: 'good-name' });
    const record = recordFor(stack, key);
    expect(record).toMatchObject({ state: 'importing', attempt: 2 });
    expect(record.history.map((h: { state: string }) => h.state)).toEqual(['claimed', 'rejected', 'claimed', 'importing']);
    expect(objectText(stack, layout.claimKey('ens-images', key, eventFor(key).etag))).toContain('new upload after rejected');
  });

  it('writes the tags back when the same bytes are uploaded again (OSS replaced them)', async () => {
    const key = 'images/ubuntu/22.04/same-bytes.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    const first = await processObjectEvent(eventFor(key), deps());
    expect(first.outcome).toBe('imported');
    // the re-upload: same ETag, no tags, forged ens tags sent along
    stack.oss.setObjectTags('ens-images', key, { 'ens:status': 'available', 'ens:image-id': 'm-forged', team: 'edge' });
    const dup = await processObjectEvent(eventFor(key, 'ens-images', 'upload-2'), deps());
    expect(dup).toMatchObject({ outcome: 'duplicate', imageId: first.imageId });
    expect(stack.oss.peekObject('ens-images', key)!.tags).toEqual({
      team: 'edge',
      'ens:image-id': first.imageId,
      'ens:status': 'importing',
    });
    expect(imagesOf(key)).toHaveLength(1);
  });
});

describe('tags ali-oss will not send', () => {
  it("imports, keeps the user's tags untouched and says so, when a user tag cannot be sent back (an empty value)", async () => {
    const key = 'images/ubuntu/22.04/empty-user-tag.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    // OSS accepts an empty tag value; ali-oss refuses to send one (checked before sending)
    stack.oss.setObjectTags('ens-images', key, { team: '' });
    const r = await processObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'imported' });
    expect(stack.oss.peekObject('ens-images', key)!.tags).toEqual({ team: '' });
    expect(recordFor(stack, key)).toMatchObject({ state: 'importing', imageId: r.imageId });
    expect(lines.some((l) => l.includes('"event":"tags-not-writable"') && l.includes('team'))).toBe(true);
  });
});

describe('ImageName letters are ASCII letters (or Chinese characters)', () => {
  it('refuses café in metadata before calling ImportImage, and makes a key-derived café valid', async () => {
    const given = 'images/ubuntu/22.04/given-name.qcow2';
    stack.oss.seedObject('ens-images', given, fixture('v3.qcow2'), undefined, { 'ens-image-name': encodeURIComponent('café-web') });
    const before = stack.ens.callsOf('ImportImage').length;
    expect(await processObjectEvent(eventFor(given), deps())).toMatchObject({
      outcome: 'rejected',
      errorCode: 'InvalidParameter.ImageName',
    });
    expect(stack.ens.callsOf('ImportImage').length).toBe(before);
    const derived = 'images/ubuntu/22.04/café.qcow2';
    stack.oss.seedObject('ens-images', derived, fixture('v3.qcow2'));
    expect(await processObjectEvent(eventFor(derived), deps())).toMatchObject({ outcome: 'imported', imageName: 'caf' });
  });
});

describe('secrets never leave the process', () => {
  it('keeps an STS token with + / = out of the log, the result and the record, in every encoding, when ENS echoes the string to sign', async () => {
    const token = 'CAIS+ab/cd=ef+gh/ij==kl';
    const issued = stack.issueSts(token);
    const key = 'images/ubuntu/22.04/leaky.qcow2';
    stack.oss.seedObject('ens-images', key, fixture('v3.qcow2'));
    const d = deps();
    const wrong = { ...issued, accessKeySecret: 'not-the-secret' };
    const seen: string[] = [];
    const r = await processObjectEvent(eventFor(key), {
      ...d,
      ens: createEnsApi(stack.endpoints.ens, wrong),
      log: createLogger((l) => seen.push(l), {}, [wrong.accessKeySecret, wrong.securityToken, wrong.accessKeyId]),
    });
    expect(r).toMatchObject({ outcome: 'rejected', errorCode: 'SignatureDoesNotMatch' });
    const encodings = [
      token,
      encodeURIComponent(token),
      encodeURIComponent(encodeURIComponent(token)),
      encodeURIComponent(token).replace(/%20/g, '+'),
    ];
    const sinks = {
      log: seen.join('\n'),
      result: JSON.stringify(r),
      record: objectText(stack, layout.claimKey('ens-images', key, eventFor(key).etag))!,
    };
    for (const [sink, text] of Object.entries(sinks)) for (const e of encodings) expect(text.includes(e), `${sink} holds ${e}`).toBe(false);
    expect(sinks.result).toContain('string to sign');
  });
});

describe('a manifest names only disks it may import', () => {
  const manifest = (name: string, disks: string[]) => {
    const key = `images/ubuntu/22.04/${name}.ens-image.json`;
    stack.oss.seedObject(
      'ens-images',
      key,
      Buffer.from(JSON.stringify({ disks, imageName: name, platform: 'ubuntu', osVersion: '22.04' })),
    );
    return key;
  };

  it('refuses disks outside the watched prefix or under the state prefix, without touching them', async () => {
    const secret = 'private/finance/db.qcow2';
    stack.oss.seedObject('ens-images', secret, fixture('v3.qcow2'));
    const requestsBefore = stack.oss.requestLog.filter((r) => r.key === secret).length;
    const key = manifest('leaky', ['./leaky-system.qcow2', secret]);
    stack.oss.seedObject('ens-images', 'images/ubuntu/22.04/leaky-system.qcow2', fixture('v3.qcow2'));
    const r = await processObjectEvent(eventFor(key), deps());
    expect(r).toMatchObject({ outcome: 'rejected', errorCode: 'manifest-disk-not-allowed' });
    expect(r.reason).toContain(secret);
    expect(stack.oss.requestLog.filter((x) => x.key === secret).length).toBe(requestsBefore);
    expect(Object.keys(stack.oss.peekObject('ens-images', secret)!.tags).length).toBe(0);
    const state = manifest('state', ['.ens-importer/claims/x.qcow2']);
    expect(await processObjectEvent(eventFor(state), deps())).toMatchObject({
      outcome: 'rejected',
      errorCode: 'manifest-disk-not-allowed',
    });
  });

  it("leaves a disk's own import result alone when a manifest naming it is rejected", async () => {
    const disk = 'images/ubuntu/22.04/owned-disk.qcow2';
    stack.oss.seedObject('ens-images', disk, fixture('v3.qcow2'));
    const own = await processObjectEvent(eventFor(disk), deps());
    expect(own.outcome).toBe('imported');
    const key = manifest('bad-manifest', [disk, './missing-bad.qcow2', './raw-bad.qcow2']);
    stack.oss.seedObject('ens-images', 'images/ubuntu/22.04/raw-bad.qcow2', Buffer.alloc(70_000, 1));
    stack.oss.seedObject('ens-images', 'images/ubuntu/22.04/missing-bad.qcow2', fixture('v3.qcow2'));
    expect(await processObjectEvent(eventFor(key), deps())).toMatchObject({ outcome: 'rejected', errorCode: 'not-qcow2' });
    expect(stack.oss.peekObject('ens-images', disk)!.tags).toEqual({
      'ens:image-id': own.imageId,
      'ens:status': 'importing',
    });
  });
});
