/**
 * qcow2 header inspection from the first bytes of an object, modelled on OpenStack's
 * format inspector: a pure function from bytes to a report, then named safety checks.
 */

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;
const KNOWN_INCOMPATIBLE = 0b11111n; // dirty, corrupt, external data file, compression type, extended L2
const INCOMPATIBLE_NAMES = ['dirty', 'corrupt', 'external-data-file', 'compression-type', 'extended-l2'];
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
  features?: string[];
  headerLength?: number;
  dataFile?: string;
  /** other disk formats whose signature is also present */
  otherFormats: string[];
}

export interface Refusal {
  code: string;
  message: string;
}

export interface Inspection {
  report: Qcow2Report;
  refusals: Refusal[];
}

/** Signatures of formats that must not hide in a qcow2 file (offset, bytes). */
const OTHER_FORMATS: { name: string; offset: number; magic: Buffer }[] = [
  { name: 'iso9660', offset: 0x8001, magic: Buffer.from('CD001') },
  { name: 'iso9660', offset: 0x8801, magic: Buffer.from('CD001') },
  { name: 'iso9660', offset: 0x9001, magic: Buffer.from('CD001') },
  { name: 'vdi', offset: 0x40, magic: Buffer.from([0x7f, 0x10, 0xda, 0xbe]) },
  { name: 'vmdk', offset: 0x200, magic: Buffer.from('KDMV') },
];

/** Formats whose signature at offset 0 identifies a non-qcow2 file (for a clearer reason). */
const LEADING_FORMATS: { name: string; magic: Buffer }[] = [
  { name: 'vmdk', magic: Buffer.from('KDMV') },
  { name: 'vhdx', magic: Buffer.from('vhdxfile') },
  { name: 'vhd', magic: Buffer.from('conectix') },
  { name: 'luks', magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b]) },
  { name: 'zip', magic: Buffer.from('PK\x03\x04', 'latin1') },
];

export function parseQcow2Header(bytes: Buffer, objectSize = bytes.length): Qcow2Report {
  const report: Qcow2Report = { format: 'unknown', bytesInspected: bytes.length, objectSize, otherFormats: [] };
  if (bytes.length < 4 || bytes.readUInt32BE(0) !== QCOW2_MAGIC) return report;
  report.format = 'qcow2';
  if (bytes.length < 8) return report;
  report.version = bytes.readUInt32BE(4);
  if (bytes.length < V2_HEADER_LENGTH) return report;
  report.backingFileOffset = bytes.readBigUInt64BE(8);
  const backingFileSize = bytes.readUInt32BE(16);
  report.clusterBits = bytes.readUInt32BE(20);
  if (report.clusterBits < 31) report.clusterSize = 2 ** report.clusterBits;
  report.virtualSize = bytes.readBigUInt64BE(24);
  report.cryptMethod = bytes.readUInt32BE(32);
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
    report.incompatibleFeatures = bytes.readBigUInt64BE(72);
    report.headerLength = bytes.readUInt32BE(100);
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

export interface InspectionLimits {
  maxVirtualSizeBytes: bigint;
}

type Check = (r: Qcow2Report, limits: InspectionLimits) => Refusal | undefined;

/** Named safety checks, each with a stable short code; the first failing one is the verdict. */
export const CHECKS: { name: string; check: Check }[] = [
  {
    name: 'not-empty',
    check: (r) => (r.objectSize === 0 ? { code: 'empty-object', message: 'the object is empty (0 bytes)' } : undefined),
  },
  {
    name: 'qcow2-magic',
    check: (r) => {
      if (r.format === 'qcow2') return undefined;
      return {
        code: 'not-qcow2',
        message: `not a qcow2 image: no "QFI\\xfb" magic at offset 0${r.otherFormats.length ? ` (looks like ${r.otherFormats.join(', ')})` : ''}`,
      };
    },
  },
  {
    name: 'header-complete',
    check: (r) => {
      const need = r.version === 3 ? V3_MIN_HEADER_LENGTH : V2_HEADER_LENGTH;
      return r.version === undefined ||
        r.bytesInspected < need ||
        r.clusterBits === undefined ||
        (r.version === 3 && r.headerLength === undefined)
        ? {
            code: 'qcow2-truncated',
            message: `the qcow2 header is truncated: ${r.bytesInspected} bytes, a version ${r.version ?? '?'} header needs ${need}`,
          }
        : undefined;
    },
  },
  {
    name: 'version',
    check: (r) =>
      r.version === 2 || r.version === 3
        ? undefined
        : { code: 'qcow2-unsupported-version', message: `qcow2 version ${r.version} (only 2 and 3 are supported)` },
  },
  {
    name: 'cluster-bits',
    check: (r) =>
      r.clusterBits! >= 9 && r.clusterBits! <= 21
        ? undefined
        : { code: 'qcow2-bad-cluster-size', message: `cluster_bits ${r.clusterBits} is outside 9-21` },
  },
  {
    name: 'header-length',
    check: (r) =>
      r.version === 2 || (r.headerLength! >= V3_MIN_HEADER_LENGTH && r.headerLength! % 8 === 0 && r.headerLength! <= r.clusterSize!)
        ? undefined
        : {
            code: 'qcow2-bad-header-length',
            message: `header_length ${r.headerLength} is not a multiple of 8 between 104 and the cluster size`,
          },
  },
  {
    name: 'backing-file',
    check: (r) =>
      r.backingFileOffset === 0n
        ? undefined
        : {
            code: 'qcow2-backing-file',
            message: `the image has a backing file${r.backingFile ? ` "${r.backingFile}"` : ''}; flatten it first (qemu-img convert -O qcow2)`,
          },
  },
  {
    name: 'data-file',
    check: (r) =>
      r.incompatibleFeatures! & 0b100n
        ? {
            code: 'qcow2-data-file',
            message: `the image keeps its data in an external file${r.dataFile ? ` "${r.dataFile}"` : ''}; convert it to a self-contained qcow2`,
          }
        : undefined,
  },
  {
    name: 'encryption',
    check: (r) =>
      r.cryptMethod === 0
        ? undefined
        : {
            code: 'qcow2-encrypted',
            message: `the image is encrypted (crypt_method ${r.cryptMethod}); ENS cannot import encrypted images`,
          },
  },
  {
    name: 'corrupt',
    check: (r) =>
      r.incompatibleFeatures! & 0b10n
        ? { code: 'qcow2-corrupt', message: 'the image is marked corrupt; repair it with qemu-img check -r all' }
        : undefined,
  },
  {
    name: 'unknown-features',
    check: (r) => {
      const unknown = r.incompatibleFeatures! & ~KNOWN_INCOMPATIBLE;
      return unknown
        ? { code: 'qcow2-unknown-features', message: `unknown incompatible feature bits 0x${unknown.toString(16)}` }
        : undefined;
    },
  },
  {
    name: 'virtual-size',
    check: (r, l) => {
      if (r.virtualSize === 0n) return { code: 'qcow2-zero-size', message: 'the virtual disk size is 0' };
      return r.virtualSize! > l.maxVirtualSizeBytes
        ? { code: 'qcow2-too-large', message: `virtual size ${r.virtualSize} bytes exceeds the limit of ${l.maxVirtualSizeBytes} bytes` }
        : undefined;
    },
  },
  {
    name: 'single-format',
    check: (r) =>
      r.otherFormats.length
        ? { code: 'multiple-formats', message: `the bytes also carry a ${r.otherFormats.join(', ')} signature (multiple formats detected)` }
        : undefined,
  },
];

/** Inspect the header bytes of an object; refusals are listed in check order. */
export function inspectQcow2(bytes: Buffer, objectSize: number, limits: InspectionLimits): Inspection {
  const report = parseQcow2Header(bytes, objectSize);
  if (report.format !== 'qcow2') {
    for (const f of LEADING_FORMATS) {
      if (bytes.subarray(0, f.magic.length).equals(f.magic) && !report.otherFormats.includes(f.name)) report.otherFormats.push(f.name);
    }
  }
  const refusals: Refusal[] = [];
  for (const { check } of CHECKS) {
    const refusal = check(report, limits);
    if (refusal) {
      refusals.push(refusal);
      // later checks read fields an unreadable header does not have
      if (['empty-object', 'not-qcow2', 'qcow2-truncated', 'qcow2-unsupported-version'].includes(refusal.code)) break;
    }
  }
  return { report, refusals };
}

/** A JSON-safe summary for logs and the import record. */
export function summarizeInspection(i: Inspection): Record<string, unknown> {
  const r = i.report;
  return {
    format: r.format,
    version: r.version,
    virtualSize: r.virtualSize !== undefined ? Number(r.virtualSize) : undefined,
    clusterSize: r.clusterSize,
    features: r.features,
    backingFile: r.backingFileOffset ? (r.backingFile ?? true) : undefined,
    dataFile: r.dataFile,
    encrypted: r.cryptMethod ? true : undefined,
    bytesInspected: r.bytesInspected,
    refusals: i.refusals.map((x) => x.code),
  };
}
