import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { importResults } from '../helpers/state';

/** Every re-upload made a new image and orphaned the last: now the older image is superseded, kept or deleted by rule. */

let stack: LocalStack;
afterEach(() => stack?.stop());

/** importer.yaml as shipped, with a field set on each of its rules (`previous: …`, `onDelete: …`) */
function rulesWith(field: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  const shipped = readFileSync(resolve(PROJECT_ROOT, 'importer.yaml'), 'utf8');
  const file = join(dir, 'importer.yaml');
  writeFileSync(file, shipped.replace(/^(\s*)- name: (.+)$/gm, `$1- name: $2\n$1  ${field}`));
  return file;
}

async function start(previous?: string, field = previous ? `previous: ${previous}` : undefined) {
  stack = await startLocalStack({ retryBaseMs: 20, ...(field ? { functionEnv: { IMPORTER_RULES: rulesWith(field) } } : {}) });
  return ossClient(stack);
}
const track = () => stack.fc.invoke('ens-track-imports', '{}') as Promise<any>;
const recordOf = (key: string, imageId: string) =>
  stack
    .stateKeys('claims')
    .map((k) => JSON.parse(stack.objectText(k)!))
    .find((r) => r.key === key && r.imageId === imageId);
const v = (n: number) => Buffer.concat([fixture('v3.qcow2'), Buffer.from(`version ${n}`)]);

/** Version n of the key uploaded and imported: its ImageId. */
async function uploaded(oss: any, key: string, n: number): Promise<string> {
  await oss.put(key, v(n));
  await stack.settle();
  return importResults(stack)
    .filter((r) => r.key === key)
    .at(-1)!.imageId as string;
}

async function twoVersions(oss: any, key: string): Promise<[string, string]> {
  await oss.put(key, v(1));
  await stack.settle();
  stack.ens.clock.advance(3_600_000);
  await track();
  await oss.put(key, v(2));
  await stack.settle();
  const ids = importResults(stack)
    .filter((r) => r.key === key && r.outcome === 'imported')
    .map((r) => r.imageId as string);
  stack.ens.clock.advance(3_600_000);
  await track();
  return [ids[0]!, ids[1]!];
}

describe('a newer version supersedes the older image', () => {
  it('keeps it by default, recorded superseded by the newer image; the object tells the newer one', async () => {
    const oss = await start();
    const key = 'images/ubuntu/22.04/kept.qcow2';
    const [first, second] = await twoVersions(oss, key);
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', supersededBy: { imageId: second } });
    expect(recordOf(key, first).imageDeletion).toBeUndefined();
    expect(stack.ens.listImages().find((i) => i.imageId === first)?.deleted).toBeFalsy();
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'available', 'ens:image-id': second });
    expect(stack.ens.callsOf('DeleteImage')).toHaveLength(0);
  });

  it('deletes it under previous: delete-after-available, only the image the record proves', async () => {
    const oss = await start('delete-after-available');
    const key = 'images/ubuntu/22.04/pruned.qcow2';
    const [first, second] = await twoVersions(oss, key);
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', imageDeletion: { state: 'deleted', attempts: 1 } });
    expect(stack.ens.listImages().find((i) => i.imageId === first)?.deleted).toBe(true);
    expect(stack.ens.listImages().find((i) => i.imageId === second)?.deleted).toBeFalsy();
    expect(stack.ens.callsOf('DeleteImage').map((c) => c.params.ImageId)).toEqual([first]);
    // why tells the key's versions, the first superseded with its image deleted
    const why = await new Promise<string>((done) =>
      execFile(
        process.execPath,
        [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'why', `oss://${stack.bucket}/${key}`],
        { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() } },
        (_err, stdout) => done(stdout),
      ),
    );
    expect(why).toMatch(new RegExp(`superseded \\(image deleted\\) +${first}`));
  });

  it('records a refused deletion (the image is in use) and tries again on a later run, with back-off', async () => {
    const oss = await start('delete-after-available');
    const key = 'images/ubuntu/22.04/in-use.qcow2';
    const first = await uploaded(oss, key, 1);
    stack.ens.clock.advance(3_600_000);
    await track();
    stack.ens.useImage(first); // an instance runs from it
    await oss.put(key, v(2));
    await stack.settle();
    stack.ens.clock.advance(3_600_000);
    await track();
    expect(recordOf(key, first)).toMatchObject({
      state: 'superseded',
      imageDeletion: { state: 'refused', attempts: 1, code: 'Forbidden.DelerrorteImage' },
    });
    // not due yet: the next run leaves it alone
    await track();
    expect(stack.ens.callsOf('DeleteImage')).toHaveLength(1);
    // the instance is gone, and the back-off has passed (the record says when)
    stack.ens.useImage(first, false);
    const due = recordOf(key, first).imageDeletion.nextAt;
    const claimKey = stack.stateKeys('claims').find((k) => JSON.parse(stack.objectText(k)!).imageId === first)!;
    const record = JSON.parse(stack.objectText(claimKey)!);
    const past = new Date(Date.parse(due) - 3_600_000).toISOString();
    stack.oss.seedObject(
      stack.bucket,
      claimKey,
      // as the tracker itself would have written it: signed with the functions' key
      Buffer.from(stack.signedState(claimKey, JSON.stringify({ ...record, imageDeletion: { ...record.imageDeletion, nextAt: past } }))),
    );
    await track();
    expect(recordOf(key, first)).toMatchObject({ imageDeletion: { state: 'deleted', attempts: 2 } });
  });

  it('an older version whose image ENS finishes after the newer one is superseded when it finishes, and its image deleted by rule', async () => {
    const oss = await start('delete-after-available');
    const key = 'images/ubuntu/22.04/slow-first.qcow2';
    const first = await uploaded(oss, key, 1);
    stack.ens.slowImage(first, 3 * 3_600_000); // the first upload was the larger image
    const second = await uploaded(oss, key, 2);
    stack.ens.clock.advance(3_600_000);
    await track(); // the second is available; the first still being made
    expect(recordOf(key, second)).toMatchObject({ state: 'available' });
    expect(recordOf(key, first)).toMatchObject({ state: 'importing' });
    stack.ens.clock.advance(3 * 3_600_000);
    await track();
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', supersededBy: { imageId: second } });
    await track(); // the deletion queue is followed on the run after it was filled
    expect(stack.ens.callsOf('DeleteImage').map((c) => c.params.ImageId)).toEqual([first]);
    expect(recordOf(key, second)).toMatchObject({ state: 'available' });
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'available', 'ens:image-id': second });
  });

  it('an older version timed out, then finished by ENS after the newer one was available, is superseded at the re-check', async () => {
    const oss = await start();
    const fn = stack.fc.functions.get('ens-track-imports')!;
    stack.fc.register({ ...fn, env: { ...fn.env, IMPORTER_IMPORT_TIMEOUT_HOURS: String(1 / 3600) } });
    const key = 'images/ubuntu/22.04/late-first.qcow2';
    const first = await uploaded(oss, key, 1);
    stack.ens.slowImage(first, 3 * 3_600_000);
    await new Promise((r) => setTimeout(r, 1_100)); // past the (one-second) deadline
    await track();
    expect(recordOf(key, first)).toMatchObject({ state: 'failed', errorCode: 'import-timeout' });
    const second = await uploaded(oss, key, 2);
    stack.ens.clock.advance(3_600_000);
    await track();
    expect(recordOf(key, second)).toMatchObject({ state: 'available' });
    stack.ens.clock.advance(3 * 3_600_000); // ENS finishes the first after all
    await track();
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', supersededBy: { imageId: second } });
    expect(stack.stateKeys('images').filter((k) => k.endsWith(first))).toEqual([]);
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'available', 'ens:image-id': second });
  });

  it('a newer version that timed out, then finished by ENS, supersedes the earlier one at the re-check', async () => {
    const oss = await start();
    const key = 'images/ubuntu/22.04/late-second.qcow2';
    const first = await uploaded(oss, key, 1);
    stack.ens.clock.advance(3_600_000);
    await track();
    const fn = stack.fc.functions.get('ens-track-imports')!;
    stack.fc.register({ ...fn, env: { ...fn.env, IMPORTER_IMPORT_TIMEOUT_HOURS: String(1 / 3600) } });
    const second = await uploaded(oss, key, 2);
    await new Promise((r) => setTimeout(r, 1_100)); // past the (one-second) deadline, still Creating
    await track();
    expect(recordOf(key, second)).toMatchObject({ state: 'failed', errorCode: 'import-timeout' });
    expect(recordOf(key, first)).toMatchObject({ state: 'available' });
    stack.ens.clock.advance(3_600_000); // ENS finishes it after all
    await track();
    expect(recordOf(key, second)).toMatchObject({ state: 'available' });
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', supersededBy: { imageId: second } });
  });

  it('a run with many imports finishing reads the key history once, and still supersedes the key that has an earlier version', async () => {
    const oss = await start();
    const key = 'images/ubuntu/22.04/among-many.qcow2';
    const others = (round: number) => Array.from({ length: 6 }, (_, i) => `images/ubuntu/22.04/other-${round}-${i}.qcow2`);
    for (const k of [key, ...others(1)]) await oss.put(k, v(1));
    await stack.settle();
    stack.ens.clock.advance(3_600_000);
    await track();
    const first = importResults(stack).find((r) => r.key === key)!.imageId as string;
    for (const k of [key, ...others(2)]) await oss.put(k, v(2));
    await stack.settle();
    const second = importResults(stack)
      .filter((r) => r.key === key)
      .at(-1)!.imageId as string;
    stack.ens.clock.advance(3_600_000);
    const before = stack.oss.requestLog.length;
    await track();
    const historyListings = stack.oss.requestLog.slice(before).filter((q) => q.prefix?.includes('/keys/') || q.prefix?.startsWith('keys/'));
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', supersededBy: { imageId: second } });
    // one listing of the whole history, then one of the one key that has two versions (not seven)
    expect(historyListings.map((q) => (q.prefix!.endsWith('keys/') ? 'all' : 'one key'))).toEqual(['all', 'one key']);
  });

  it('in an account whose key history is large, a run with few imports finishing reads one page of it, not all', async () => {
    const oss = await start();
    // 20,000 versions of other keys in the history: 20 pages, against 3 per-key listings
    for (let i = 0; i < 20_000; i++)
      stack.oss.seedObject(
        stack.bucket,
        `.ens-importer/keys/${createHash('sha256').update(`k${i}`).digest('hex').slice(0, 40)}/import~x.json`,
        Buffer.alloc(0),
      );
    const key = 'images/ubuntu/22.04/in-a-big-account.qcow2';
    await oss.put(key, v(1));
    await stack.settle();
    stack.ens.clock.advance(3_600_000);
    await track();
    const first = importResults(stack).find((r) => r.key === key)!.imageId as string;
    for (const k of [key, 'images/ubuntu/22.04/big-1.qcow2', 'images/ubuntu/22.04/big-2.qcow2']) await oss.put(k, v(2));
    await stack.settle();
    stack.ens.clock.advance(3_600_000);
    const before = stack.oss.requestLog.length;
    await track();
    const listings = stack.oss.requestLog.slice(before).filter((q) => q.prefix?.startsWith('.ens-importer/keys/'));
    expect(listings.filter((q) => q.prefix === '.ens-importer/keys/')).toHaveLength(1);
    expect(listings.length).toBeLessThanOrEqual(4);
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded' });
  });

  it('an old version uploaded again adopts its kept image instead of importing it twice', async () => {
    const oss = await start();
    const key = 'images/ubuntu/22.04/back.qcow2';
    const [first] = await twoVersions(oss, key);
    await oss.put(key, v(1)); // the old bytes again
    await stack.settle();
    const last = importResults(stack)
      .filter((r) => r.key === key)
      .at(-1)!;
    expect(last).toMatchObject({ outcome: 'imported', imageId: first });
    expect(stack.ens.callsOf('ImportImage')).toHaveLength(2);
  });
});

describe('deleting the object ends the key by its rule (onDelete)', () => {
  it('keep (the default): its images and records stay, and why tells the history', async () => {
    const oss = await start();
    const key = 'images/ubuntu/22.04/removed-kept.qcow2';
    const [, second] = await twoVersions(oss, key);
    await oss.delete(key);
    await stack.settle();
    await track();
    expect(stack.importResults().at(-1)).toMatchObject({ key, errorCode: 'object-deleted' });
    expect(recordOf(key, second)).toMatchObject({ state: 'available' });
    expect(stack.ens.callsOf('DeleteImage')).toHaveLength(0);
  });

  it('delete-image: the images of every version the importer made for the key are deleted by the tracker; the records stay', async () => {
    const oss = await start(undefined, 'onDelete: delete-image');
    const key = 'images/ubuntu/22.04/removed.qcow2';
    const [first, second] = await twoVersions(oss, key);
    await oss.deleteMulti([key]); // DeleteObjects
    await stack.settle();
    await track();
    expect(
      stack.ens
        .callsOf('DeleteImage')
        .map((c) => c.params.ImageId)
        .sort(),
    ).toEqual([first, second].sort());
    expect(recordOf(key, second)).toMatchObject({ state: 'deleted', errorCode: 'object-deleted', imageDeletion: { state: 'deleted' } });
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', imageDeletion: { state: 'deleted' } });
    // the same bytes uploaded again: a new import, as for any deleted image
    await oss.put(key, v(2));
    await stack.settle();
    expect(
      importResults(stack)
        .filter((r) => r.key === key)
        .at(-1),
    ).toMatchObject({ outcome: 'imported' });
  });
});

describe('ens-importer prune', () => {
  it("shows its plan first (--dry-run), then deletes only earlier versions' images, never the current one", async () => {
    const oss = await start();
    const key = 'images/ubuntu/22.04/pruned-cli.qcow2';
    const [first, second] = await twoVersions(oss, key);
    const run = (args: string[]) =>
      new Promise<string>((done) =>
        execFile(
          process.execPath,
          [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'prune', `oss://${stack.bucket}/images/`, ...args, '--json'],
          { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() } },
          (_err, stdout) => done(stdout),
        ),
      );
    const dry = JSON.parse(await run(['--keep', '0', '--dry-run']));
    expect(dry.plan.map((i: { imageId: string }) => i.imageId)).toEqual([first]);
    expect(stack.ens.callsOf('DeleteImage')).toHaveLength(0);
    const done = JSON.parse(await run(['--keep', '0']));
    expect(done.deleted).toEqual([first]);
    expect(stack.ens.listImages().find((i) => i.imageId === first)?.deleted).toBe(true);
    expect(stack.ens.listImages().find((i) => i.imageId === second)?.deleted).toBeFalsy();
    expect(recordOf(key, first)).toMatchObject({ state: 'superseded', imageDeletion: { state: 'deleted' } });
  });
});
