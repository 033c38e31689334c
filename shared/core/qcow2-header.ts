import { DISK_FORMATS } from './disk-format';
/**
 * The qcow2 header as facts, from the first bytes of an object: a pure function from bytes to
 * a report. The safety checks (and their codes) are in qcow2.ts.
 *
 * Spec: QEMU docs/interop/qcow2.txt, "Header" (registry: disk-format.ts). Big-endian.
 *
 *     Dec  Hex   Name                     Use / limit (code in qcow2.ts)
 *       0  0x00  magic                    "QFI\xfb", else not-qcow2
 *       4  0x04  version                  2 or 3 (qcow2-unsupported-version)
 *       8  0x08  backing_file_offset      0, else qcow2-backing-file
 *      16  0x10  backing_file_size
 *      20  0x14  cluster_bits             9..21 (qcow2-bad-cluster-size)
 *      24  0x18  size                     > 0 and <= limits.maxVirtualSizeGiB
 *      32  0x20  crypt_method             0, else qcow2-encrypted
 *      60  0x3c  nb_snapshots             reported (internal snapshots are imported as the current state)
 *      72  0x48  incompatible_features    v3: bits 0 dirty, 1 corrupt (qcow2-corrupt), 2 external data
 *                                         file (qcow2-data-file), 3 compression type, 4 extended L2
 *                                         (qcow2-newer-features); others: qcow2-unknown-features
 *     100  0x64  header_length            v3: 104..cluster size, a multiple of 8 (qcow2-bad-header-length)
 *     (v3 header extensions after header_length: the external data file's name)
 *   and no other format's signature inside the first 64 KiB (ISO 9660 at 0x8001/0x8801/0x9001,
 *   VDI at 0x40, VMDK at 0x200): multiple-formats.
 */

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;
export const KNOWN_INCOMPATIBLE = 0b11111n; // dirty, corrupt, external data file, compression type, extended L2
const INCOMPATIBLE_NAMES = ['dirty', 'corrupt', 'external-data-file', 'compression-type', 'extended-l2'];
/** header field offsets (big-endian) */
const FIELD = {
  magic: 0,
  version: 4,
  backingFileOffset: 8,
  backingFileSize: 16,
  clusterBits: 20,
  virtualSize: 24,
  cryptMethod: 32,
  nbSnapshots: 60,
  incompatibleFeatures: 72,
  headerLength: 100,
} as const;
const EXT_END = 0x00000000;
const EXT_DATA_FILE = 0x44415441;

export interface Qcow2Report {
  format: 'qcow2' | 'unknown';
  bytesInspected: number;
  objectSize: number;
  version?: number;
  backingFileOffset?: bigint;
  backingFile?: string;
  clusterBits?: number;
  clusterSize?: number;
  virtualSize?: bigint;
  cryptMethod?: number;
  incompatibleFeatures?: bigint;
  /** internal snapshots (nb_snapshots) */
  snapshots?: number;
  features?: string[];
  headerLength?: number;
  dataFile?: string;
  /** other disk formats whose signature is also present */
  otherFormats: string[];
}

/** Signatures of formats that must not hide in a qcow2 file (offset, bytes). */
const OTHER_FORMATS: { name: string; offset: number; magic: Buffer }[] = [
  { name: 'iso9660', offset: 0x8001, magic: Buffer.from('CD001') },
  { name: 'iso9660', offset: 0x8801, magic: Buffer.from('CD001') },
  { name: 'iso9660', offset: 0x9001, magic: Buffer.from('CD001') },
  { name: 'vdi', offset: 0x40, magic: Buffer.from([0x7f, 0x10, 0xda, 0xbe]) },
  { name: 'vmdk', offset: 0x200, magic: Buffer.from('KDMV') },
];

/**
 * Signatures at offset 0 that identify a non-qcow2 file, for a clearer reason: the registry's
 * other disk formats, and containers that are no disk at all.
 */
export const LEADING_FORMATS: { name: string; magic: Buffer }[] = [
  ...DISK_FORMATS.filter((f) => f.format !== 'qcow2').flatMap((f) =>
    f.signatures.filter((s) => s.at === 0).map((s) => ({ name: f.format, magic: Buffer.from(s.magic, 'latin1') })),
  ),
  { name: 'luks', magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b]) },
  { name: 'zip', magic: Buffer.from('PK\x03\x04', 'latin1') },
];

export function parseQcow2Header(bytes: Buffer, objectSize = bytes.length): Qcow2Report {
  const report: Qcow2Report = { format: 'unknown', bytesInspected: bytes.length, objectSize, otherFormats: [] };
  if (bytes.length < 4 || bytes.readUInt32BE(FIELD.magic) !== QCOW2_MAGIC) return report;
  report.format = 'qcow2';
  if (bytes.length < 8) return report;
  report.version = bytes.readUInt32BE(FIELD.version);
  if (bytes.length < V2_HEADER_LENGTH) return report;
  report.backingFileOffset = bytes.readBigUInt64BE(FIELD.backingFileOffset);
  const backingFileSize = bytes.readUInt32BE(FIELD.backingFileSize);
  report.clusterBits = bytes.readUInt32BE(FIELD.clusterBits);
  if (report.clusterBits < 31) report.clusterSize = 2 ** report.clusterBits;
  report.virtualSize = bytes.readBigUInt64BE(FIELD.virtualSize);
  report.cryptMethod = bytes.readUInt32BE(FIELD.cryptMethod);
  report.snapshots = bytes.readUInt32BE(FIELD.nbSnapshots);
  if (report.backingFileOffset > 0n) {
    const start = Number(report.backingFileOffset);
    if (start + backingFileSize <= bytes.length && backingFileSize <= 1023) {
      report.backingFile = bytes.toString('utf8', start, start + backingFileSize);
    }
  }
  if (report.version === 2) {
    report.headerLength = V2_HEADER_LENGTH;
    report.incompatibleFeatures = 0n;
  } else if (report.version === 3 && bytes.length >= V3_MIN_HEADER_LENGTH) {
    report.incompatibleFeatures = bytes.readBigUInt64BE(FIELD.incompatibleFeatures);
    report.headerLength = bytes.readUInt32BE(FIELD.headerLength);
    report.features = INCOMPATIBLE_NAMES.filter((_, i) => (report.incompatibleFeatures! >> BigInt(i)) & 1n);
    report.dataFile = readDataFileExtension(bytes, report.headerLength, report.clusterSize);
  }
  for (const f of OTHER_FORMATS) {
    if (f.offset + f.magic.length <= bytes.length && bytes.subarray(f.offset, f.offset + f.magic.length).equals(f.magic)) {
      if (!report.otherFormats.includes(f.name)) report.otherFormats.push(f.name);
    }
  }
  return report;
}

function readDataFileExtension(bytes: Buffer, headerLength: number, clusterSize?: number): string | undefined {
  let offset = headerLength;
  const limit = Math.min(bytes.length, clusterSize ?? bytes.length);
  while (offset + 8 <= limit) {
    const type = bytes.readUInt32BE(offset);
    const length = bytes.readUInt32BE(offset + 4);
    if (type === EXT_END) return undefined;
    if (offset + 8 + length > limit) return undefined;
    if (type === EXT_DATA_FILE) return bytes.toString('utf8', offset + 8, offset + 8 + length);
    offset += 8 + Math.ceil(length / 8) * 8;
  }
  return undefined;
}
