/**
 * qcow2 safety checks, modelled on OpenStack's format inspector: the header report
 * (qcow2-header.ts), then named checks, each with a stable code and an operator's fix.
 */
import {
  V2_HEADER_LENGTH,
  V3_MIN_HEADER_LENGTH,
  KNOWN_INCOMPATIBLE,
  LEADING_FORMATS,
  parseQcow2Header,
  type Qcow2Report,
} from './qcow2-header';

export { parseQcow2Header, QCOW2_MAGIC, type Qcow2Report } from './qcow2-header';

export interface Refusal {
  code: string;
  message: string;
}

export interface Inspection {
  report: Qcow2Report;
  refusals: Refusal[];
}

export interface InspectionLimits {
  maxVirtualSizeBytes: bigint;
  /** incompatible features newer than qcow2 v3 itself that the rules file allows */
  allowedNewerFeatures?: readonly string[];
}

/**
 * Incompatible features qemu added after qcow2 v3 (bits 3 and 4). ENS does not document its
 * qemu version, so an image using them may fail hours later in packing: refused, with the
 * conversion that removes the feature, unless `limits.allowQcow2Features` allows it.
 */
const NEWER_FEATURES: { bit: bigint; name: string; remedy: string }[] = [
  { bit: 0b1000n, name: 'compression-type', remedy: 'qemu-img convert -O qcow2 -o compression_type=zlib in.qcow2 out.qcow2' },
  { bit: 0b10000n, name: 'extended-l2', remedy: 'qemu-img convert -O qcow2 -o extended_l2=off in.qcow2 out.qcow2' },
];

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
    name: 'newer-features',
    check: (r, l) => {
      const used = NEWER_FEATURES.filter((f) => r.incompatibleFeatures! & f.bit && !(l.allowedNewerFeatures ?? []).includes(f.name));
      if (!used.length) return undefined;
      const names = used.map((f) => f.name).join(', ');
      const message = `the image uses incompatible feature(s) newer than qcow2 v3 (${names}), which the qemu of ENS may not read; convert it: ${used.map((f) => f.remedy).join('; ')}`;
      return { code: 'qcow2-newer-features', message };
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
/** What the log line and the import record keep of an inspection (JSON-safe). */
export type InspectionSummary = {
  format: Qcow2Report['format'];
  version?: number;
  virtualSize?: number;
  clusterSize?: number;
  features?: string[];
  backingFile?: string | true;
  dataFile?: string;
  encrypted?: true;
  /** internal snapshots: imported, but worth a warning (ENS imports the active layer) */
  snapshots?: number;
  bytesInspected: number;
  refusals: string[];
};

export function summarizeInspection(i: Inspection): InspectionSummary {
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
    snapshots: r.snapshots ? r.snapshots : undefined,
    bytesInspected: r.bytesInspected,
    refusals: i.refusals.map((x) => x.code),
  };
}
