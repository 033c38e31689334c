import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { ensClient, ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { importResults, recordFor } from '../helpers/state';

/** A key's life, as ENS sees it: images deleted in ENS, imports ENS finishes after the deadline. */

let stack: LocalStack;
let oss: any;
const TRACKER = 'ens-track-imports';

beforeEach(async () => {
  stack = await startLocalStack({ retryBaseMs: 20, functionEnv: { IMPORTER_MISSING_GRACE_MINUTES: '10' } });
  oss = ossClient(stack);
});
afterEach(() => stack.stop());

const track = async () => (await stack.fc.invoke(TRACKER, '{}')) as any;
const tags = async (key: string) => (await oss.getObjectTagging(key)).tag;
const upload = async (key: string, body = fixture('v3.qcow2')) => {
  await oss.put(key, body);
  await stack.settle();
  return importResults(stack)
    .filter((r) => r.key === key)
    .at(-1)!.imageId as string;
};
const notices = () => stack.webhook.received.map((r) => r.body as Record<string, unknown>);
const cli = (args: string[]): Promise<{ code: number; stdout: string }> =>
  new Promise((done) =>
    execFile(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), ...args],
      { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() } },
      (err, stdout) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  );

describe("a key's history", () => {
  it('outlives the object: why on a deleted key tells every version it had', async () => {
    const key = 'images/ubuntu/22.04/history.qcow2';
    const first = await upload(key);
    const second = await upload(key, Buffer.concat([fixture('v3.qcow2'), Buffer.from('v2')]));
    await oss.delete(key);
    const text = await cli(['why', `oss://${stack.bucket}/${key}`]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/no such object now/);
    expect(text.stdout).toMatch(/versions of this key \(2, oldest first\)/);
    const json = JSON.parse((await cli(['why', `oss://${stack.bucket}/${key}`, '--json'])).stdout);
    expect(json.exists).toBe(false);
    expect(json.versions.map((v: { imageId: string; job: string }) => [v.job, v.imageId])).toEqual([
      ['import', first],
      ['import', second],
    ]);
    // a key nothing ever happened to is still not found
    expect((await cli(['why', `oss://${stack.bucket}/images/ubuntu/22.04/never.qcow2`])).code).toBe(1);
  });

  it('ens-importer images lists every image the importer made, with its key, version and state', async () => {
    const key = 'images/ubuntu/22.04/listed.qcow2';
    const first = await upload(key);
    const second = await upload(key, Buffer.concat([fixture('v3.qcow2'), Buffer.from('v2')]));
    await upload('images/ubuntu/22.04/bad.qcow2', fixture('raw-disk.qcow2')); // rejected: no image
    const r = await cli(['images', `oss://${stack.bucket}/images/ubuntu/`, '--json']);
    expect(r.code).toBe(0);
    const listed = JSON.parse(r.stdout).images as { imageId: string; key: string; current: boolean; state: string }[];
    expect(listed.map((i) => [i.imageId, i.key, i.current, i.state])).toEqual([
      [first, key, false, 'importing'],
      [second, key, true, 'importing'],
    ]);
    const text = await cli(['images', `oss://${stack.bucket}/images/ubuntu/`]);
    expect(text.stdout).toMatch(/\(older\)/);
    expect(text.stdout).toMatch(/2 images/);
  });
});

describe('ENS is the truth for images', () => {
  it('an image deleted in ENS is tagged deleted, said in the record and a notice, and the version imports again', async () => {
    const key = 'images/ubuntu/22.04/kept.qcow2';
    const first = await upload(key);
    stack.ens.clock.advance(3_600_000);
    await track();
    expect(await tags(key)).toMatchObject({ 'ens:status': 'available', 'ens:image-id': first });
    // an operator deletes the image in the ENS console
    await ensClient(stack).request('DeleteImage', { ImageId: first }, { method: 'POST' });
    const summary = await track();
    expect(summary.rechecked).toBeGreaterThanOrEqual(1);
    expect(await tags(key)).toEqual({ 'ens:status': 'deleted', 'ens:image-id': first, 'ens:error': 'image-deleted' });
    expect(recordFor(stack, key)).toMatchObject({ state: 'deleted', errorCode: 'image-deleted', imageId: first });
    expect(notices().find((n) => n.outcome === 'deleted')).toMatchObject({ key, imageId: first, by: 'tracker' });
    // the next pass has nothing more to say about it
    await track();
    expect(notices().filter((n) => n.outcome === 'deleted')).toHaveLength(1);
    // the same bytes can be imported again: ens-importer retry
    const retried = JSON.parse((await cli(['retry', `oss://${stack.bucket}/${key}`, '--via', 'local', '--json'])).stdout);
    expect(retried.results[0]).toMatchObject({ outcome: 'imported' });
    expect(retried.results[0].imageId).not.toBe(first);
    expect(recordFor(stack, key)).toMatchObject({ state: 'importing', imageId: retried.results[0].imageId });
  });

  it('retry --force re-imports a version whose image is gone, asking ENS first; never one ENS still has', async () => {
    const key = 'images/ubuntu/22.04/forced.qcow2';
    const first = await upload(key);
    stack.ens.clock.advance(3_600_000);
    await track();
    const url = `oss://${stack.bucket}/${key}`;
    const kept = JSON.parse((await cli(['retry', url, '--via', 'local', '--force', '--json'])).stdout);
    expect(kept.results[0]).toMatchObject({ outcome: 'skipped' });
    expect(kept.results[0].reason).toMatch(/ENS still has/);
    // deleted in the console; the tracker has not run since
    await ensClient(stack).request('DeleteImage', { ImageId: first }, { method: 'POST' });
    expect(JSON.parse((await cli(['retry', url, '--via', 'local', '--json'])).stdout).results[0]).toMatchObject({ outcome: 'skipped' });
    const forced = JSON.parse((await cli(['retry', url, '--via', 'local', '--force', '--json'])).stdout);
    expect(forced.results[0]).toMatchObject({ outcome: 'imported' });
    expect(forced.results[0].imageId).not.toBe(first);
    const history = recordFor(stack, key).history.map((h: { state: string }) => h.state);
    expect(history).toEqual(expect.arrayContaining(['available', 'deleted', 'importing']));
  });

  it('a re-upload of the same bytes after the image was deleted imports them anew', async () => {
    const key = 'images/ubuntu/22.04/again.qcow2';
    const first = await upload(key);
    stack.ens.clock.advance(3_600_000);
    await track();
    await ensClient(stack).request('DeleteImage', { ImageId: first }, { method: 'POST' });
    await track();
    const second = await upload(key);
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);
    expect(await tags(key)).toMatchObject({ 'ens:status': 'importing', 'ens:image-id': second });
  });

  it('an import that timed out, then finished in ENS, is corrected to available', async () => {
    const key = 'images/ubuntu/22.04/late.qcow2';
    const fn = stack.fc.functions.get(TRACKER)!;
    stack.fc.register({ ...fn, env: { ...fn.env, IMPORTER_IMPORT_TIMEOUT_HOURS: String(1 / 3600) } });
    const id = await upload(key);
    await new Promise((r) => setTimeout(r, 1_100)); // past the (one-second) deadline, still Creating in ENS
    await track();
    expect(await tags(key)).toMatchObject({ 'ens:status': 'failed', 'ens:error': 'import-timeout' });
    stack.ens.clock.advance(3_600_000); // ENS finishes it
    await track();
    expect(await tags(key)).toEqual({ 'ens:status': 'available', 'ens:image-id': id });
    expect(recordFor(stack, key)).toMatchObject({ state: 'available' });
    expect(recordFor(stack, key).errorCode).toBeUndefined();
    expect(notices().find((n) => n.outcome === 'available' && n.key === key)).toBeTruthy();
  });

  it('re-checks 120 available images within one DescribeSelfImages call per 50 images', async () => {
    const keys = Array.from({ length: 120 }, (_, i) => `images/ubuntu/22.04/many-${i}.qcow2`);
    for (const k of keys) await oss.put(k, fixture('v3.qcow2'));
    await stack.settle();
    stack.ens.clock.advance(3_600_000);
    await track(); // all available; they move to the images index
    const before = stack.ens.callsOf('DescribeSelfImages').length;
    const summary = await track();
    expect(summary.rechecked).toBe(120);
    expect(stack.ens.callsOf('DescribeSelfImages').length - before).toBeLessThanOrEqual(Math.ceil(120 / 50));
  });
});
