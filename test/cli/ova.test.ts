import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOvf } from '../../shared/formats/ovf';
import { ConvertRefusal, type RandomAccess } from '../../shared/formats/refusal';
import { memberSource, tarIndex } from '../../shared/formats/tar-index';
import { vmdkReader } from '../../shared/formats/vmdk-reader';
import { makeOva, ovfDescriptor } from '../helpers/ova';

/** OVA packages under hostile edits: each refusal its own code, never a hang or another exception. */

const dir = mkdtempSync(join(tmpdir(), 'ova-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;
const inMemory = (b: Buffer): RandomAccess => ({ size: b.length, read: async (o, l) => b.subarray(o, o + l) });

const raw = join(dir, 'g.raw');
writeFileSync(raw, Buffer.alloc(2 * MiB, 0x61));
execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, join(dir, 'g-disk1.vmdk')]);
const clean = readFileSync(
  makeOva(dir, 'g', ovfDescriptor([{ id: 'd1', file: 'g-disk1.vmdk', capacity: 2 * MiB }]), [join(dir, 'g-disk1.vmdk')]),
);

/** What reading the whole package comes to: 'converted' or the refusal's code. */
async function verdict(b: Buffer): Promise<string> {
  try {
    const src = inMemory(b);
    const entries = await tarIndex(src);
    const ovf = entries.find((e) => e.name.endsWith('.ovf'));
    if (!ovf) return 'no-ovf';
    for (const d of parseOvf((await src.read(ovf.offset, ovf.size)).toString('utf8'))) {
      const e = entries.find((x) => x.name === d.href);
      if (!e) return 'ova-disk-missing';
      for await (const _ of (await vmdkReader(memberSource(src, e), 64 * MiB)).clusters) void _;
    }
    return 'converted';
  } catch (err) {
    if (err instanceof ConvertRefusal) return err.code;
    throw err;
  }
}

/** A ustar header for one member, checksum made right after the edit. */
function header(name: string, size: number, type = '0', edit?: (h: Buffer) => void): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write(type, 156);
  h.write('ustar\x0000', 257, 'latin1');
  edit?.(h);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}
const archive = (...blocks: Buffer[]) => Buffer.concat([...blocks, Buffer.alloc(1024)]);

describe('OVA refusals', () => {
  it('the clean package made with tar around a qemu-img VMDK converts', async () => {
    expect(await verdict(clean)).toBe('converted');
  });
  const cases: [string, () => Buffer, string][] = [
    ['a member climbing out with ..', () => archive(header('../etc/passwd', 0)), 'ova-tar-invalid'],
    ['an absolute member name', () => archive(header('/x.ovf', 0)), 'ova-tar-invalid'],
    ['a symlink', () => archive(header('disk.vmdk', 0, '2')), 'ova-tar-invalid'],
    ['a size past the end', () => archive(header('x.ovf', 10 * MiB)), 'ova-tar-invalid'],
    [
      'a broken checksum',
      () => {
        const b = archive(header('x.ovf', 0));
        b[0] = 0x79;
        return b;
      },
      'ova-tar-invalid',
    ],
    ['no end-of-archive blocks', () => header('x.ovf', 0), 'ova-tar-invalid'],
  ];
  for (const [title, make, code] of cases) it(`${title}: ${code}`, async () => expect(await verdict(make())).toBe(code));

  it('an OVF naming a file References does not list: ova-disk-missing', () => {
    const ovf = ovfDescriptor([{ id: 'd', file: 'd.vmdk', capacity: 1 }]).replace('ovf:fileRef="file1"', 'ovf:fileRef="file9"');
    expect(() => parseOvf(ovf)).toThrow(expect.objectContaining({ code: 'ova-disk-missing' }));
  });
  it('a gzip-compressed disk: ova-compressed-disk', () => {
    const ovf = ovfDescriptor([{ id: 'd', file: 'd.vmdk', capacity: 1 }]).replace(
      'ovf:id="file1"',
      'ovf:id="file1" ovf:compression="gzip"',
    );
    expect(() => parseOvf(ovf)).toThrow(expect.objectContaining({ code: 'ova-compressed-disk' }));
  });
  it('entities are never expanded (billion laughs stays small)', () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<Envelope><References><File id="f" href="&c;"/></References><DiskSection><Disk diskId="d" fileRef="f"/></DiskSection></Envelope>`;
    expect(parseOvf(laughs)[0]!.href.length).toBeLessThan(10);
  });
  it('not XML, or no disk: ova-ovf-invalid, ova-no-disk', () => {
    expect(() => parseOvf('<Envelope><References>')).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^ova-(ovf-invalid|no-disk)$/) }),
    );
    expect(() => parseOvf('<Envelope/>')).toThrow(expect.objectContaining({ code: 'ova-no-disk' }));
  });

  it('fuzz (fast-check): mutated packages convert or refuse with an ova-/vmdk- code', async () => {
    const ovfAt = clean.indexOf('<Envelope');
    const offset = fc.oneof(
      fc.integer({ min: 0, max: 511 }),
      fc.integer({ min: ovfAt, max: ovfAt + 1500 }),
      fc.integer({ min: 0, max: clean.length - 1 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(offset, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), async (edits) => {
        const b = Buffer.from(clean);
        for (const [at, byte] of edits) b[at] = byte;
        expect(await verdict(b)).toMatch(/^(converted|no-ovf|ova-[a-z-]+|vmdk-[a-z-]+)$/);
      }),
      { numRuns: 150, seed: 20261128 },
    );
  });
});
