import { ConvertRefusal, type RandomAccess } from './refusal';

/** One member of a tar archive: where its bytes are. */
export interface TarEntry {
  name: string;
  offset: number;
  size: number;
}

const BLOCK = 512;
export const MAX_TAR_ENTRIES = 64;

const octal = (h: Buffer, at: number, len: number): number | undefined => {
  const s = h
    .toString('latin1', at, at + len)
    .replace(/\0.*$/s, '')
    .trim();
  return /^[0-7]+$/.test(s) ? Number.parseInt(s, 8) : s === '' ? 0 : undefined;
};

/**
 * The regular files of a ustar archive (an OVA), headers read one by one: each checksum
 * checked, each name confined (no absolute path, no `..`), each size within the archive.
 * PAX and GNU extension headers are skipped with their data; links and devices are refused.
 *
 * Spec: POSIX.1-1988 ustar (IEEE Std 1003.1, "pax" Interchange Format), as OVF (DSP0243) packs
 * an OVA (registry: core/disk-format.ts). Every refusal here is ova-tar-invalid.
 *
 *   header (512 bytes; two zero blocks end the archive, missing: refused)
 *     Dec  Hex    Size  Name       Use / limit
 *       0  0x000  100   name       confined: not empty, not absolute, no `..`
 *     124  0x07c   12   size       octal; data within the archive
 *     148  0x094    8   chksum     octal sum of the header with this field as spaces
 *     156  0x09c    1   typeflag   '0'/NUL file; 'L' GNU long name (<= 4 KiB); x g 5 skipped;
 *                                  anything else (links, devices) refused
 *     257  0x101    6   magic      "ustar": then prefix applies
 *     345  0x159  155   prefix     joined to name with '/'
 *   at most 64 files (128 headers with extensions).
 */
export async function tarIndex(src: RandomAccess): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  let at = 0;
  /** a GNU long name ('L'): the name of the member that follows */
  let longName: string | undefined;
  for (let n = 0; ; n++) {
    if (n >= MAX_TAR_ENTRIES * 2) throw new ConvertRefusal('ova-tar-invalid', `more than ${MAX_TAR_ENTRIES} members`);
    if (at + BLOCK > src.size) throw new ConvertRefusal('ova-tar-invalid', 'the archive ends inside a header (no end-of-archive blocks)');
    const h = await src.read(at, BLOCK);
    if (h.every((b) => b === 0)) return entries;
    const sum = octal(h, 148, 8);
    let actual = 0;
    for (let i = 0; i < BLOCK; i++) actual += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== actual) throw new ConvertRefusal('ova-tar-invalid', `the header at ${at} fails its checksum`);
    const size = octal(h, 124, 12);
    if (size === undefined) throw new ConvertRefusal('ova-tar-invalid', `the header at ${at} has a size that is not octal`);
    const dataAt = at + BLOCK;
    if (dataAt + size > src.size)
      throw new ConvertRefusal('ova-tar-invalid', `member at ${at} claims ${size} bytes past the archive's end`);
    const type = String.fromCharCode(h[156]!);
    const prefix = h.toString('latin1', 257, 263).startsWith('ustar') ? h.toString('utf8', 345, 500).replace(/\0.*$/s, '') : '';
    const base = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const name = longName ?? (prefix ? `${prefix}/${base}` : base);
    longName = undefined;
    if (type === 'L') {
      if (size > 4096) throw new ConvertRefusal('ova-tar-invalid', `a long name of ${size} bytes at ${at}`);
      longName = (await src.read(dataAt, size)).toString('utf8').replace(/\0.*$/s, '');
    } else if (type === '0' || type === '\0') {
      if (!name || name.startsWith('/') || name.split('/').includes('..'))
        throw new ConvertRefusal('ova-tar-invalid', `member name "${name}" is empty, absolute or climbs out with ..`);
      if (entries.length >= MAX_TAR_ENTRIES) throw new ConvertRefusal('ova-tar-invalid', `more than ${MAX_TAR_ENTRIES} files`);
      entries.push({ name, offset: dataAt, size });
    } else if (!'xg5'.includes(type)) {
      throw new ConvertRefusal('ova-tar-invalid', `member "${name}" is of type ${JSON.stringify(type)} (links and devices are not disks)`);
    }
    at = dataAt + Math.ceil(size / BLOCK) * BLOCK;
  }
}

/** A member's bytes as a source of their own. */
export const memberSource = (src: RandomAccess, e: TarEntry): RandomAccess => ({
  size: e.size,
  read: (offset, length) => src.read(e.offset + offset, Math.max(0, Math.min(length, e.size - offset))),
});
