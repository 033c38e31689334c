import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { importResults, recordFor } from '../helpers/state';

let stack: LocalStack;
let oss: any;
const dir = 'images/ubuntu/22.04/';
const disks = [`${dir}web-system.qcow2`, `${dir}web-data-1.qcow2`, `${dir}web-data-2.qcow2`];
const manifestKey = `${dir}web.ens-image.json`;
const manifest = { disks: ['./web-system.qcow2', './web-data-1.qcow2', `${dir}web-data-2.qcow2`], imageName: 'web-multi' };

const start = async (env: Record<string, string> = {}) => {
  stack = await startLocalStack({ retryBaseMs: 20, functionEnv: { IMPORTER_MANIFEST_WAIT_MINUTES: '60', ...env } });
  oss = ossClient(stack);
};
beforeEach(() => start());
afterEach(() => stack.stop());

const uploadDisk = (key: string, file = 'v3.qcow2') => oss.put(key, fixture(file), { headers: { 'x-oss-meta-ens-import': 'manifest' } });
const uploadManifest = (body: unknown, key = manifestKey) =>
  oss.put(key, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
const imports = () => stack.ens.callsOf('ImportImage').filter((c) => c.status === 200);
const tags = (key: string) => stack.oss.peekObject(stack.bucket, key)!.tags;
const manifestResults = () => importResults(stack).filter((r) => r.key === manifestKey);

describe('multi-disk images', () => {
  it('imports a 3-disk manifest as one image, disks in order, tags on the manifest and every disk', async () => {
    for (const d of disks) await uploadDisk(d);
    await stack.settle();
    expect(importResults(stack).map((r) => [r.outcome, r.errorCode])).toEqual(disks.map(() => ['skipped', 'manifest-disk']));
    await uploadManifest(manifest);
    await stack.settle();
    expect(manifestResults().at(-1)).toMatchObject({ outcome: 'imported', imageName: 'web-multi' });
    expect(imports()).toHaveLength(1);
    const params = imports()[0]!.params;
    expect(JSON.parse(params.DiskDeviceMapping!)).toEqual(
      disks.map((d) => ({ OSSRegion: 'cn-beijing', OSSBucket: stack.bucket, OSSObject: d })),
    );
    expect(params).not.toHaveProperty('OSSObject');
    expect(params).toMatchObject({ ImageName: 'web-multi', Platform: 'ubuntu', OSVersion: '22.04' });
    const imageId = manifestResults().at(-1).imageId;
    for (const key of [manifestKey, ...disks]) expect(tags(key)).toEqual({ 'ens:image-id': imageId, 'ens:status': 'importing' });
    expect(recordFor(stack, manifestKey)).toMatchObject({ disks, state: 'importing' });
    // the tracker follows it like any import, disks included
    stack.ens.clock.advance(301_000);
    await stack.fc.fireTimers();
    for (const key of [manifestKey, ...disks]) expect(tags(key)['ens:status']).toBe('available');
  });

  it('waits for disks uploaded after the manifest, then imports once', async () => {
    await uploadManifest(manifest);
    await stack.settle();
    expect(manifestResults().at(-1)).toMatchObject({ outcome: 'skipped', errorCode: 'manifest-waiting' });
    expect(manifestResults().at(-1).reason).toContain(disks[2]);
    for (const d of disks) {
      await uploadDisk(d);
      await stack.settle();
    }
    expect(imports()).toHaveLength(1);
    // the third disk's event woke the manifest, which logged its own line
    const outcomes = stack.fc.logs
      .map((l) => JSON.parse(l.message))
      .filter((l) => l.key === manifestKey && l.outcome)
      .map((l) => l.outcome);
    expect(outcomes).toEqual(['skipped', 'skipped', 'skipped', 'imported']);
    expect(stack.fc.logs.some((l) => l.message.includes('"event":"manifest-woken"'))).toBe(true);
    expect(stack.oss.objectKeys(stack.bucket).filter((k) => k.includes('/waiting/'))).toEqual([]);
  });

  it('rejects a manifest whose disk never arrives, naming the missing key, once the wait is over', async () => {
    await stack.stop();
    await start({ IMPORTER_MANIFEST_WAIT_MINUTES: String(2 / 60) });
    await uploadDisk(disks[0]!);
    await uploadDisk(disks[1]!);
    await uploadManifest(manifest);
    await stack.settle();
    expect(manifestResults().at(-1)).toMatchObject({ outcome: 'skipped', errorCode: 'manifest-waiting' });
    await new Promise((r) => setTimeout(r, 3200));
    await stack.fc.fireTimers();
    const line = stack.fc.logs
      .map((l) => JSON.parse(l.message))
      .filter((l) => l.key === manifestKey && l.outcome === 'rejected')
      .at(-1);
    expect(line).toMatchObject({ errorCode: 'manifest-missing-disk' });
    expect(line.reason).toContain(disks[2]);
    expect(tags(manifestKey)).toEqual({ 'ens:status': 'rejected', 'ens:error': 'manifest-missing-disk' });
    expect(imports()).toHaveLength(0);
  });

  it('rejects a manifest with a bad disk, saying which', async () => {
    await uploadDisk(disks[0]!);
    await uploadDisk(disks[1]!, 'luks.qcow2');
    await uploadDisk(disks[2]!);
    await uploadManifest(manifest);
    await stack.settle();
    expect(manifestResults().at(-1)).toMatchObject({ outcome: 'rejected', errorCode: 'qcow2-encrypted' });
    expect(manifestResults().at(-1).reason).toContain(`disk ${disks[1]}`);
    expect(tags(manifestKey)).toEqual({ 'ens:status': 'rejected', 'ens:error': 'qcow2-encrypted' });
    expect(imports()).toHaveLength(0);
  });

  it.each([
    ['not JSON', '{"disks": [', /not valid JSON/],
    ['an unknown field', { disks: ['./a.qcow2'], colour: 'blue' }, /unknown field\(s\) colour/],
    ['no disks', { disks: [] }, /disks/],
    ['a disk listed twice', { disks: ['./a.qcow2', `${dir}a.qcow2`] }, /listed twice/],
  ])('rejects a manifest with %s', async (_label, body, reason) => {
    await uploadManifest(body);
    await stack.settle();
    expect(manifestResults().at(-1)).toMatchObject({ outcome: 'rejected', errorCode: 'manifest-invalid' });
    expect(manifestResults().at(-1).reason).toMatch(reason as RegExp);
    expect(tags(manifestKey)).toEqual({ 'ens:status': 'rejected', 'ens:error': 'manifest-invalid' });
  });

  it('imports once when the manifest event is delivered several times at once', async () => {
    for (const d of disks) stack.oss.seedObject(stack.bucket, d, fixture('v3.qcow2'), undefined, { 'ens-import': 'manifest' });
    stack.oss.seedObject(stack.bucket, manifestKey, Buffer.from(JSON.stringify(manifest)));
    for (let i = 0; i < 4; i++) stack.oss.notify('PutObject', stack.bucket, manifestKey);
    await stack.settle();
    expect(imports()).toHaveLength(1);
    expect(
      manifestResults()
        .map((r) => r.outcome)
        .sort(),
    ).toEqual(['duplicate', 'duplicate', 'duplicate', 'imported']);
  });
});

describe('manifests that share a disk, and manifests deleted while they wait', () => {
  it('lets two manifests wait for the same disk, and imports both when it arrives', async () => {
    const other = `${dir}web-b.ens-image.json`;
    await uploadDisk(disks[0]!);
    await uploadDisk(disks[1]!);
    await uploadManifest(manifest);
    await uploadManifest({ disks: ['./web-system.qcow2', './web-data-2.qcow2'], imageName: 'web-b' }, other);
    await stack.settle();
    // both wait for web-data-2
    expect(stack.stateKeys('waiting')).toHaveLength(2);
    await uploadDisk(disks[2]!);
    await stack.settle();
    expect(
      imports()
        .map((c) => c.params.ImageName)
        .sort(),
    ).toEqual(['web-b', 'web-multi']);
    expect(stack.stateKeys('waiting')).toEqual([]);
  });

  it('removes the waiting entries of a manifest deleted while it waited, once its wait is over', async () => {
    await stack.stop();
    await start({ IMPORTER_MANIFEST_WAIT_MINUTES: String(2 / 60) });
    await uploadManifest(manifest);
    await stack.settle();
    expect(stack.stateKeys('waiting')).toHaveLength(3);
    await oss.delete(manifestKey);
    await new Promise((r) => setTimeout(r, 2200));
    await stack.fc.fireTimers();
    expect(stack.stateKeys('waiting')).toEqual([]);
    expect(stack.fc.logs.some((l) => l.message.includes('"event":"manifest-waiting-removed"'))).toBe(true);
  });
});
