/**
 * Every outcome and error code the importer writes (`ens:error`, a log line's `errorCode`, a
 * record's `errorCode`), in one place: what it ends as, whether the same input can succeed on
 * a later try without a change, and what the operator does. docs/operations.md lists every
 * entry (a test holds both to this table), and `ens-importer why` prints the remedy.
 */

export type CodeOutcome = 'rejected' | 'failed' | 'skipped';

export interface CodeEntry {
  outcome: CodeOutcome;
  /** a later attempt on the same bytes and settings may succeed (FC's retry, `ens-importer retry`) */
  retryable: boolean;
  remedy: string;
}

const rejected = (remedy: string): CodeEntry => ({ outcome: 'rejected', retryable: false, remedy });
const failed = (remedy: string, retryable = false): CodeEntry => ({ outcome: 'failed', retryable, remedy });
const skipped = (remedy: string): CodeEntry => ({ outcome: 'skipped', retryable: false, remedy });

const CONVERT = 'convert it (ens-importer convert in out.qcow2, or qemu-img convert -O qcow2) and upload the .qcow2';
const TRANSIENT = failed('FC retries it; once ENS or OSS is healthy, ens-importer retry', true);
const PERMISSION = failed(
  'grant the role the action named in missingAction (deploy/ram/*.json; ens-importer doctor shows what is missing), then ens-importer retry',
);

export const CODES: Readonly<Record<string, CodeEntry>> = {
  // the qcow2 inspector
  'format-needs-conversion': rejected(`${CONVERT}; deployed as shipped, ens-convert-image does this`),
  'not-qcow2': rejected(CONVERT),
  'empty-object': rejected('upload the file again'),
  'qcow2-truncated': rejected('upload the file again'),
  'qcow2-unsupported-version': rejected('qemu-img convert -O qcow2'),
  'qcow2-backing-file': rejected('qemu-img convert -O qcow2 top.qcow2 flat.qcow2'),
  'qcow2-data-file': rejected('convert to a self-contained qcow2'),
  'qcow2-encrypted': rejected('convert to an unencrypted qcow2'),
  'qcow2-corrupt': rejected('qemu-img check -r all'),
  'qcow2-unknown-features': rejected('convert with -o compat=1.1'),
  'qcow2-newer-features': rejected('-o compression_type=zlib / -o extended_l2=off, or limits.allowQcow2Features'),
  'qcow2-bad-cluster-size': rejected('convert again with qemu-img'),
  'qcow2-bad-header-length': rejected('convert again with qemu-img'),
  'qcow2-zero-size': rejected('resize the image'),
  'qcow2-too-large': rejected('resize it, or raise limits.maxVirtualSizeGiB in importer.yaml'),
  'multiple-formats': rejected('upload a plain qcow2'),
  // parameters and manifests
  'object-missing': rejected('nothing to do: the object was deleted'),
  'manifest-invalid': rejected('fix the manifest and upload it again'),
  'manifest-missing-disk': rejected('upload the disk, then the manifest again'),
  'manifest-disk-not-allowed': rejected('name only disks the triggers watch'),
  'image-name-taken': rejected("another key's image holds the name: choose another ens-image-name, or set names: allow-duplicates"),
  // the converter
  'convert-output-exists': rejected('rename or remove the output, then upload the source again'),
  'convert-output-missing': rejected('upload the source again'),
  'convert-already-qcow2': rejected('upload it as <name>.qcow2'),
  'convert-output-too-large': rejected('convert locally and upload the qcow2 with ossutil'),
  'convert-timeout': failed('raise vars.converttimeout in s.yaml, s deploy, then ens-importer retry'),
  'convert-would-time-out': failed(
    'raise vars.converttimeout in s.yaml (or IMPORTER_CONVERT_RATE_MBPS, measured), s deploy, then ens-importer retry; or ens-importer convert locally and upload the .qcow2',
  ),
  'convert-fanout-mismatch': rejected('the source reads differently in a worker: upload it again'),
  'convert-fanout-failed': failed(
    'a fan-out worker could not convert its range (the reason says why): ens-importer retry, or raise IMPORTER_FANOUT_MIB to convert on one instance',
  ),
  // the deployment
  AccessDenied: PERMISSION,
  'Forbidden.RAM': PERMISSION,
  NoPermission: PERMISSION,
  'bucket-versioning': failed('use a bucket that never had versioning'),
  InvalidTag: failed('the import record holds the result; fix the object tag ali-oss cannot send'),
  'state-write-invalid': failed('a bug: report it with the log line; FC retries', true),
  'state-record-unreadable': failed('find out who writes under the state prefix (deploy/bucket-policy.json)', true),
  // ENS's own end, and time
  Pack_failed: failed('qemu-img check the file, check the ENS console, upload again or ens-importer retry', true),
  Upload_failed: failed('check the ENS console, then ens-importer retry', true),
  Unavailable: failed('check the ENS console, then ens-importer retry', true),
  'import-timeout': failed('check ENS, then ens-importer retry', true),
  'image-missing': failed('ens-importer retry if you still want the image', true),
  'image-deleted': failed('the image was deleted in ENS: ens-importer retry (or upload again) imports the version anew', true),
  // what FC's retries could not get past
  'retries-exhausted': TRANSIENT,
  'Throttling.User': TRANSIENT,
  ServiceUnavailable: TRANSIENT,
  InternalError: TRANSIENT,
  RequestTimeout: TRANSIENT,
  NetworkError: TRANSIENT,
  NonJsonResponse: TRANSIENT,
  EmptyResponse: TRANSIENT,
  DeadlineExceeded: TRANSIENT,
  OssError: TRANSIENT,
  'claim-busy': TRANSIENT,
  'manifest-retry': TRANSIENT,
  FanOutIncomplete: TRANSIENT,
  FanOutDataChanged: TRANSIENT,
  // nothing to do
  'handed-to-converter': skipped('ens-convert-image writes its qcow2; see its conversion record'),
  'event-kind': skipped('none: the event completes no upload'),
  'state-object': skipped("none: the importer's own state"),
  superseded: skipped("none: the newer upload's event handles it"),
  'ens-import-skip': skipped('remove the ens-import: skip metadata to import it'),
  'no-matching-rule': skipped('add a rule to importer.yaml that covers the key'),
  'rule-skip': skipped('none: a rule says skip'),
  'dry-run': skipped('unset IMPORTER_DRY_RUN to import'),
  'invalid-event': skipped('none: the event was not an OSS event'),
  'manifest-disk': skipped('none: its manifest imports it'),
  'manifest-waiting': skipped('upload the missing disks; the manifest imports when they arrive'),
  'object-deleted': skipped("none: the object was deleted; its images are kept or deleted by the rule's onDelete"),
};

/** Codes made from a name: a reader's refusals share its format's prefix; ENS names the field. */
export const CODE_FAMILIES: readonly (CodeEntry & { prefix: string })[] = [
  { prefix: 'InvalidParameter.', ...rejected('fix the metadata or the key (ens-importer plan shows each value and its source)') },
  { prefix: 'MissingParameter.', ...rejected('add the metadata, or follow the naming convention') },
  ...['vhd-', 'vhdx-', 'vmdk-', 'ova-', 'raw-'].map((prefix) => ({
    prefix,
    ...rejected('fix or re-export the disk; ens-importer convert disk out.qcow2 shows the refusal locally'),
  })),
];

/** What a code means and what to do; undefined for a code no table knows. */
export function describeCode(code: string): CodeEntry | undefined {
  const exact = CODES[code];
  if (exact) return exact;
  // the longest prefix wins: vhdx- before vhd-
  const family = [...CODE_FAMILIES].sort((a, b) => b.prefix.length - a.prefix.length).find((f) => code.startsWith(f.prefix));
  return family ? { outcome: family.outcome, retryable: family.retryable, remedy: family.remedy } : undefined;
}
