import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';
import { fixture } from '../helpers/fixtures';
import { recordFor } from '../helpers/state';

/** Uploads the qcow2 triggers did not see before: `.img` sniffed, other disks told what to do. */

let stack: LocalStack;
let oss: any;
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20 });
  oss = ossClient(stack);
});
afterAll(() => stack.stop());

const put = async (key: string, body: Buffer) => {
  await oss.put(key, body);
  await stack.settle();
  return stack
    .importResults()
    .filter((r) => r.key === key)
    .at(-1) as unknown as { outcome: string; errorCode?: string; reason?: string; imageName?: string };
};
const signed = (signature: string, at = 0, size = 4096) => {
  const b = Buffer.alloc(size);
  b.write(signature, at, 'latin1');
  return b;
};

describe('.img uploads', () => {
  it('a qcow2 named .img (Ubuntu and Debian cloud images) is imported, named without the suffix', async () => {
    const r = await put('images/ubuntu/22.04/jammy-server-cloudimg-amd64.img', fixture('v3.qcow2'));
    expect(r).toMatchObject({ outcome: 'imported', imageName: 'jammy-server-cloudimg-amd64' });
  });

  it('a raw .img is handed to the converter (recorded), whose qcow2 is imported', async () => {
    const key = 'images/ubuntu/22.04/build-output.img';
    const body = Buffer.alloc(3 * 2 ** 20);
    body.write('\x55\xaa', 510, 'latin1');
    body.fill(0x42, 2 ** 20, 2 * 2 ** 20);
    const r = await put(key, body);
    expect(r).toMatchObject({ outcome: 'skipped', errorCode: 'handed-to-converter' });
    expect(r.reason).toMatch(/raw disk named \.img: handed to ens-convert-image/);
    expect(recordFor(stack, key)).toMatchObject({ state: 'converting', reason: r.reason });
    expect(stack.convertResults().filter((c) => c.key === key)).toMatchObject([{ outcome: 'converted', format: 'raw' }]);
    expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'converted' });
    const output = stack.importResults().filter((x) => x.key === 'images/ubuntu/22.04/build-output.qcow2');
    expect(output).toMatchObject([{ outcome: 'imported', imageName: 'build-output' }]);
  });
});

describe('a broken disk in another format is refused by the converter, visibly, and leaves nothing behind', () => {
  const cases: [string, Buffer, string][] = [
    ['disk.vmdk', signed('KDMV'), 'vmdk-bad-version'],
    ['disk.vhd', signed('conectix'), 'vhd-footer-missing'],
    ['disk.vhdx', signed('vhdxfile'), 'vhdx-bad-signature'],
  ];
  for (const [name, body, code] of cases) {
    it(`${name}: rejected with ${code}, tagged, no qcow2 and no open upload`, async () => {
      const key = `images/ubuntu/22.04/${name}`;
      await oss.put(key, body);
      await stack.settle();
      const r = stack.convertResults().filter((c) => c.key === key);
      expect(r).toMatchObject([{ outcome: 'rejected', errorCode: code }]);
      expect((await oss.getObjectTagging(key)).tag).toEqual({ 'ens:status': 'rejected', 'ens:error': code });
      expect(stack.oss.peekObject(stack.bucket, key.replace(/\.[^.]+$/, '.qcow2'))).toBeUndefined();
      expect((await oss.listUploads({})).uploads).toEqual([]);
    });
  }
});
