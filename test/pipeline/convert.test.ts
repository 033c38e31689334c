import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { recordFor } from '../helpers/state';
import { ossClient } from '../helpers/clients';
import { makeOva, ovfDescriptor } from '../helpers/ova';

/**
 * Uploads in other formats, end to end on the local stack: the OSS trigger runs ens-convert-image,
 * whose multipart upload of the qcow2 fires the import trigger, which imports it into ENS.
 */

const MiB = 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), 'convert-e2e-'));
let stack: LocalStack;
let oss: any;
beforeAll(async () => {
  stack = await startLocalStack({ retryBaseMs: 20 });
  oss = ossClient(stack);
});
afterAll(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw guest of `size` bytes with a few recognisable runs of data, the rest zeros. */
function guest(name: string, size: number): string {
  const raw = join(dir, `${name}.raw`);
  const b = Buffer.alloc(size);
  b.fill(0x5a, 0, MiB);
  b.fill(0xc3, size / 2, size / 2 + 70_000);
  b.write('end of disk', size - 11);
  writeFileSync(raw, b);
  return raw;
}
const qemuConvert = (raw: string, format: string, options: string[] = []) => {
  const out = `${raw}.${format}`;
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, raw, out]);
  return out;
};
/** The guest size qemu-img sees in a file (a VHD rounds it to its CHS geometry). */
const virtualSizeOf = (file: string, format: string): number =>
  JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', format, file], { encoding: 'utf8' }))['virtual-size'];
const convertOf = (key: string) => stack.convertResults().filter((r) => r.key === key);
const importOf = (key: string) => stack.importResults().filter((r) => r.key === key);
const tags = async (key: string) => (await oss.getObjectTagging(key)).tag as Record<string, string>;

/** The qcow2 the converter wrote, proven identical to the guest by qemu-img. */
async function provenOutput(outputKey: string, raw: string): Promise<void> {
  const file = join(dir, `${outputKey.replace(/\W/g, '_')}.qcow2`);
  writeFileSync(file, (await oss.get(outputKey)).content);
  expect(spawnSync('qemu-img', ['check', file]).status).toBe(0);
  const compare = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', raw, file], { encoding: 'utf8' });
  expect(compare.stdout + compare.stderr).toMatch(/identical/i);
}

describe('upload a disk in another format, get an ENS image', () => {
  const cases: [string, string, string[]][] = [
    ['web.vhd', 'vpc', ['-o', 'subformat=dynamic']],
    ['fixed.vhd', 'vpc', ['-o', 'subformat=fixed']],
    ['appliance.vmdk', 'vmdk', ['-o', 'subformat=streamOptimized']],
    ['hyperv.vhdx', 'vhdx', []],
    ['build.raw', 'raw', []],
  ];
  for (const [name, format, options] of cases) {
    it(`${name}: converted beside it, imported, the source tagged converted`, async () => {
      const raw = guest(name, 24 * MiB);
      const file = format === 'raw' ? raw : qemuConvert(raw, format, options);
      const key = `images/ubuntu/22.04/${name}`;
      await oss.put(key, readFileSync(file), { meta: { 'ens-os-version': '22.04' } });
      await stack.settle();
      const outputKey = key.replace(/\.[^.]+$/, '.qcow2');
      expect(convertOf(key)).toMatchObject([{ outcome: 'converted', outputKey, virtualSize: virtualSizeOf(file, format) }]);
      expect(importOf(outputKey)).toMatchObject([{ outcome: 'imported', imageName: name.replace(/\.[^.]+$/, '') }]);
      expect(await tags(key)).toEqual({ 'ens:status': 'converted' });
      expect((await tags(outputKey))['ens:image-id']).toMatch(/^m-/);
      const head = await oss.head(outputKey);
      expect(head.meta).toMatchObject({ 'ens-os-version': '22.04', 'importer-source': encodeURIComponent(key) });
      expect((await oss.listUploads({})).uploads).toEqual([]);
      await provenOutput(outputKey, raw);
      // source → qcow2 → image: the import record names the upload it was converted from
      expect(recordFor(stack, outputKey)).toMatchObject({ state: 'importing', convertedFrom: { key, etag: convertOf(key)[0]!.etag } });
    });
  }

  it('ens-importer why follows the link both ways', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() };
    // asynchronously: the stack answers from this process
    const why = async (url: string) =>
      (await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'why', url], { env, encoding: 'utf8' }))
        .stdout;
    const source = await why(`oss://${stack.bucket}/images/ubuntu/22.04/web.vhd`);
    expect(source).toMatch(/conversion record \(attempt 1\): converted → oss:\/\/ens-images\/images\/ubuntu\/22\.04\/web\.qcow2/);
    expect(source).toContain('ens-importer why oss://ens-images/images/ubuntu/22.04/web.qcow2');
    const output = await why(`oss://${stack.bucket}/images/ubuntu/22.04/web.qcow2`);
    expect(output).toMatch(/converted from: oss:\/\/ens-images\/images\/ubuntu\/22\.04\/web\.vhd/);
    expect(output).toMatch(/image: m-/);
  });
});

describe('ens-importer convert with oss:// on either side', () => {
  const env = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() });
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', ...args, '--json'], {
      env: env(),
      encoding: 'utf8',
    }).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );

  it('a VHDX in the bucket to a qcow2 beside it (ranged GETs in, multipart out): the import takes it', async () => {
    const raw = guest('cli', 20 * MiB);
    const vhdx = qemuConvert(raw, 'vhdx');
    // not under a converter trigger's suffix: only the CLI converts it
    await oss.put('staging/cli.vhdx', readFileSync(vhdx), { meta: { 'ens-os-version': '22.04' } });
    const r = await cli(`oss://${stack.bucket}/staging/cli.vhdx`, `oss://${stack.bucket}/images/ubuntu/22.04/cli.qcow2`);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ format: 'vhdx', virtualBytes: virtualSizeOf(vhdx, 'vhdx') });
    await stack.settle();
    expect(importOf('images/ubuntu/22.04/cli.qcow2')).toMatchObject([{ outcome: 'imported', imageName: 'cli' }]);
    expect((await oss.head('images/ubuntu/22.04/cli.qcow2')).meta).toMatchObject({
      'ens-os-version': '22.04',
      'importer-source': 'staging%2Fcli.vhdx',
    });
    await provenOutput('images/ubuntu/22.04/cli.qcow2', raw);
  });

  it('an object to a local file, and never over an existing object (exit 3, convert-output-exists, no upload left)', async () => {
    const local = join(dir, 'from-oss.qcow2');
    expect((await cli(`oss://${stack.bucket}/staging/cli.vhdx`, local)).code).toBe(0);
    expect(spawnSync('qemu-img', ['check', local]).status).toBe(0);
    const again = await cli(`oss://${stack.bucket}/staging/cli.vhdx`, `oss://${stack.bucket}/images/ubuntu/22.04/cli.qcow2`);
    expect(again.code).toBe(3);
    expect(JSON.parse(again.out)).toMatchObject({ refused: 'convert-output-exists' });
    expect((await oss.listUploads({})).uploads).toEqual([]);
  });
});

describe('OVA: the OVF descriptor and its VMDKs', () => {
  /** A streamOptimized VMDK made by qemu-img from a guest of `mib` MiB filled with `byte`. */
  const vmdkOf = (name: string, mib: number, byte: number) => {
    const raw = join(dir, `${name}.raw`);
    const b = Buffer.alloc(mib * MiB);
    b.fill(byte, 0, MiB);
    writeFileSync(raw, b);
    const vmdk = join(dir, `${name}.vmdk`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk]);
    return { raw, vmdk };
  };

  it('one disk: converted to <name>.qcow2 and imported', async () => {
    const disk = vmdkOf('solo-disk1', 8, 0x11);
    const ova = makeOva(dir, 'solo', ovfDescriptor([{ id: 'vmdisk1', file: 'solo-disk1.vmdk', capacity: 8 * MiB }]), [disk.vmdk]);
    const key = 'images/ubuntu/22.04/solo.ova';
    await oss.put(key, readFileSync(ova));
    await stack.settle();
    expect(convertOf(key)).toMatchObject([{ outcome: 'converted', format: 'ova', outputKey: 'images/ubuntu/22.04/solo.qcow2' }]);
    expect(importOf('images/ubuntu/22.04/solo.qcow2')).toMatchObject([{ outcome: 'imported', imageName: 'solo' }]);
    await provenOutput('images/ubuntu/22.04/solo.qcow2', disk.raw);
  });

  it('two disks: each a qcow2, the manifest lists them system disk first (the hardware order), one multi-disk image', async () => {
    const system = vmdkOf('pair-system', 8, 0x22);
    const data = vmdkOf('pair-data', 4, 0x33);
    // the DiskSection lists the data disk first; the hardware attaches the system disk first
    const ovf = ovfDescriptor(
      [
        { id: 'data', file: 'pair-data.vmdk', capacity: 4 * MiB },
        { id: 'system', file: 'pair-system.vmdk', capacity: 8 * MiB },
      ],
      ['system', 'data'],
    );
    const key = 'images/ubuntu/22.04/pair.ova';
    await oss.put(key, readFileSync(makeOva(dir, 'pair', ovf, [data.vmdk, system.vmdk])), { meta: { 'ens-os-version': '22.04' } });
    await stack.settle();
    const folder = 'images/ubuntu/22.04/';
    expect(convertOf(key)).toMatchObject([{ outcome: 'converted', disks: [`${folder}pair-disk1.qcow2`, `${folder}pair-disk2.qcow2`] }]);
    const manifest = JSON.parse((await oss.get(`${folder}pair.ens-image.json`)).content.toString());
    const madeFrom = { key, etag: stack.oss.peekObject(stack.bucket, key)!.etag };
    expect(manifest).toEqual({ disks: ['./pair-disk1.qcow2', './pair-disk2.qcow2'], osVersion: '22.04', madeFrom });
    expect(importOf(`${folder}pair.ens-image.json`)).toMatchObject([{ outcome: 'imported', imageName: 'pair' }]);
    const image = stack.ens.listImages().find((i) => i.params.ImageName === 'pair')!;
    expect(JSON.stringify(image.params)).toContain('pair-disk1.qcow2');
    await provenOutput(`${folder}pair-disk1.qcow2`, system.raw);
    await provenOutput(`${folder}pair-disk2.qcow2`, data.raw);
    // a corrected package with the same layout: its manifest is a new version, imported again
    const fixedDir = join(dir, 'fixed');
    mkdirSync(fixedDir, { recursive: true });
    const fixed = { raw: join(fixedDir, 'pair-system.raw'), vmdk: join(fixedDir, 'pair-system.vmdk') };
    const guest = Buffer.alloc(8 * MiB);
    guest.fill(0x2a, 0, MiB);
    writeFileSync(fixed.raw, guest);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', fixed.raw, fixed.vmdk]);
    await oss.put(key, readFileSync(makeOva(dir, 'pair-fixed', ovf, [data.vmdk, fixed.vmdk])), { meta: { 'ens-os-version': '22.04' } });
    await stack.settle();
    const imports = importOf(`${folder}pair.ens-image.json`).filter((r) => r.outcome === 'imported');
    expect(imports).toHaveLength(2);
    expect(imports[1]!.imageId).not.toBe(imports[0]!.imageId);
    await provenOutput(`${folder}pair-disk1.qcow2`, fixed.raw);
  });

  it('an OVF that names a disk the archive does not hold: rejected ova-disk-missing', async () => {
    const disk = vmdkOf('gap-disk1', 4, 0x44);
    const ovf = ovfDescriptor([
      { id: 'a', file: 'gap-disk1.vmdk', capacity: 4 * MiB },
      { id: 'b', file: 'not-there.vmdk', capacity: 4 * MiB },
    ]);
    const key = 'images/ubuntu/22.04/gap.ova';
    await oss.put(key, readFileSync(makeOva(dir, 'gap', ovf, [disk.vmdk])));
    await stack.settle();
    expect(convertOf(key)).toMatchObject([{ outcome: 'rejected', errorCode: 'ova-disk-missing' }]);
    expect((await tags(key))['ens:error']).toBe('ova-disk-missing');
  });
});
