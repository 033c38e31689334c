/**
 * Which disk format an upload holds: by its suffix, and for `.img` (Ubuntu and Debian cloud
 * images are qcow2 named .img; build pipelines write raw .img) by its first bytes.
 */

export type DiskFormat = 'qcow2' | 'raw' | 'vmdk' | 'vhd' | 'vhdx' | 'ova';

/** Suffixes the triggers watch that ENS cannot take as they are. */
export const CONVERTIBLE_SUFFIXES: Readonly<Record<string, DiskFormat>> = {
  '.raw': 'raw',
  '.vmdk': 'vmdk',
  '.vhd': 'vhd',
  '.vhdx': 'vhdx',
  '.ova': 'ova',
};

const ascii = (bytes: Uint8Array, at: number, text: string): boolean =>
  bytes.length >= at + text.length && Buffer.from(bytes.buffer, bytes.byteOffset + at, text.length).toString('latin1') === text;

/** The format the first bytes show; anything without a known signature is a raw disk. */
export function sniffDiskFormat(head: Uint8Array): DiskFormat {
  if (ascii(head, 0, 'QFI\xfb')) return 'qcow2';
  if (ascii(head, 0, 'KDMV') || ascii(head, 0, '# Disk DescriptorFile')) return 'vmdk';
  if (ascii(head, 0, 'vhdxfile')) return 'vhdx';
  // a dynamic VHD starts with a copy of its footer; a fixed one has it only at the end
  if (ascii(head, 0, 'conectix')) return 'vhd';
  if (ascii(head, 257, 'ustar')) return 'ova';
  return 'raw';
}

/** What the key's suffix says: `qcow2`, a format to convert, or `sniff` (.img: the content decides). */
export function formatOfKey(key: string): DiskFormat | 'sniff' | undefined {
  const lower = key.toLowerCase();
  if (lower.endsWith('.qcow2')) return 'qcow2';
  if (lower.endsWith('.img')) return 'sniff';
  const suffix = Object.keys(CONVERTIBLE_SUFFIXES).find((s) => lower.endsWith(s));
  return suffix ? CONVERTIBLE_SUFFIXES[suffix] : undefined;
}

/** The operator's next step for a disk ENS cannot import as it is. */
export function conversionAdvice(format: DiskFormat, key: string): string {
  const base = key.replace(/\.[^./]+$/, '');
  const input = format === 'ova' ? 'the .vmdk disks inside the .ova (tar xf)' : key.split('/').pop();
  return `the object holds a ${format} disk and ENS imports qcow2 only: convert ${input} with \`qemu-img convert -O qcow2\` and upload it as ${base.split('/').pop()}.qcow2 beside this one`;
}
