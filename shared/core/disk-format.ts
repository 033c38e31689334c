/**
 * The disk formats the importer knows, one entry each: what it is, its specification, the key
 * suffixes that name it, the signatures that show it, and its reader's refusal codes. This is
 * the one registry: the import's sniffing of a `.img`, the qcow2 inspector's "this is another
 * format" reason, the converter, `ens-importer convert` and `inspect` all read it. The readers
 * themselves sit beside it in `shared/formats/registry.ts`.
 */

export type DiskFormat = 'qcow2' | 'raw' | 'vmdk' | 'vhd' | 'vhdx' | 'ova';

export interface Signature {
  /** offset from the start, or `footer`: the first bytes of the last 512 */
  at: number | 'footer';
  /** the bytes, as latin1 text */
  magic: string;
}

export interface FormatFacts {
  format: DiskFormat;
  title: string;
  /** the specification its reader follows */
  spec: string;
  /** key suffixes that name it (`.img` names none: its bytes decide) */
  suffixes: readonly string[];
  /** any one of them shows the format; none: the fallback (raw) */
  signatures: readonly Signature[];
  /** its reader's refusal codes begin with this */
  codePrefix: string;
  /** ENS imports it as it is; every other format goes through the converter */
  importable: boolean;
}

/** In detection order: the first entry whose signature the bytes carry is their format. */
export const DISK_FORMATS: readonly FormatFacts[] = [
  {
    format: 'qcow2',
    title: 'QEMU copy-on-write, version 2 or 3',
    spec: 'https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.txt',
    suffixes: ['.qcow2'],
    signatures: [{ at: 0, magic: 'QFI\xfb' }],
    codePrefix: 'qcow2-',
    importable: true,
  },
  {
    format: 'vmdk',
    title: 'VMware Virtual Machine Disk (monolithicSparse, streamOptimized, or a descriptor)',
    spec: 'https://github.com/libyal/libvmdk/blob/main/documentation/VMWare%20Virtual%20Disk%20Format%20(VMDK).asciidoc',
    suffixes: ['.vmdk'],
    signatures: [
      { at: 0, magic: 'KDMV' },
      { at: 0, magic: '# Disk DescriptorFile' },
    ],
    codePrefix: 'vmdk-',
    importable: false,
  },
  {
    format: 'vhdx',
    title: 'Microsoft Virtual Hard Disk v2',
    spec: 'https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-vhdx/83e061f8-f6e2-4de1-91bd-5d518a43d477',
    suffixes: ['.vhdx'],
    signatures: [{ at: 0, magic: 'vhdxfile' }],
    codePrefix: 'vhdx-',
    importable: false,
  },
  {
    format: 'vhd',
    title: 'Microsoft Virtual Hard Disk ("vpc" to qemu), fixed or dynamic',
    spec: 'https://learn.microsoft.com/en-us/windows/win32/vstor/about-vhd (Virtual Hard Disk Image Format Specification)',
    suffixes: ['.vhd'],
    // a dynamic VHD starts with a copy of its footer; a fixed one has it only at the end
    signatures: [
      { at: 0, magic: 'conectix' },
      { at: 'footer', magic: 'conectix' },
    ],
    codePrefix: 'vhd-',
    importable: false,
  },
  {
    format: 'ova',
    title: 'Open Virtualization Archive (ustar tar with an OVF descriptor and its disks)',
    spec: 'https://www.dmtf.org/standards/ovf (DSP0243) and POSIX.1-1988 ustar',
    suffixes: ['.ova'],
    signatures: [{ at: 257, magic: 'ustar' }],
    codePrefix: 'ova-',
    importable: false,
  },
  {
    format: 'raw',
    title: 'a raw disk: the guest bytes as they are',
    spec: '(none: every byte is the guest)',
    suffixes: ['.raw'],
    signatures: [],
    codePrefix: 'raw-',
    importable: false,
  },
];

/** Bytes from the start that every signature fits in. */
export const SIGNATURE_BYTES = Math.max(
  ...DISK_FORMATS.flatMap((f) => f.signatures.map((s) => (s.at === 'footer' ? 0 : s.at + s.magic.length))),
);

export const formatFacts = (format: DiskFormat): FormatFacts => DISK_FORMATS.find((f) => f.format === format)!;

const carries = (bytes: Uint8Array | undefined, at: number, magic: string): boolean =>
  bytes !== undefined &&
  bytes.length >= at + magic.length &&
  Buffer.from(bytes.buffer, bytes.byteOffset + at, magic.length).toString('latin1') === magic;

/** The format the bytes show (the first bytes, and the last 512 when known); no signature: raw. */
export function detectFormat(head: Uint8Array, footer?: Uint8Array): DiskFormat {
  for (const f of DISK_FORMATS)
    if (f.signatures.some((s) => (s.at === 'footer' ? carries(footer, 0, s.magic) : carries(head, s.at, s.magic)))) return f.format;
  return 'raw';
}

/** The format the first bytes show (the import reads only those). */
export const sniffDiskFormat = (head: Uint8Array): DiskFormat => detectFormat(head);

/** Suffixes the triggers watch that ENS cannot take as they are. */
export const CONVERTIBLE_SUFFIXES: Readonly<Record<string, DiskFormat>> = Object.fromEntries(
  DISK_FORMATS.filter((f) => !f.importable).flatMap((f) => f.suffixes.map((s) => [s, f.format])),
);

/** What the key's suffix says: a format, or `sniff` (.img: the content decides). */
export function formatOfKey(key: string): DiskFormat | 'sniff' | undefined {
  const lower = key.toLowerCase();
  if (lower.endsWith('.img')) return 'sniff';
  return DISK_FORMATS.find((f) => f.suffixes.some((s) => lower.endsWith(s)))?.format;
}

/** The operator's next step for a disk ENS cannot import as it is. */
export function conversionAdvice(format: DiskFormat, key: string): string {
  const base = key.replace(/\.[^./]+$/, '');
  const input = format === 'ova' ? 'the .vmdk disks inside the .ova (tar xf)' : key.split('/').pop();
  return `the object holds a ${format} disk and ENS imports qcow2 only: convert ${input} with \`qemu-img convert -O qcow2\` and upload it as ${base.split('/').pop()}.qcow2 beside this one`;
}
