import { createHash } from 'node:crypto';

/**
 * Every key the importer writes under its state prefix, in one place. Nothing else
 * builds a state key.
 *
 *   claims/<hash>.json            claim, then import record, of one (bucket, key, ETag); kept
 *   conversions/<hash>.json       claim, then conversion record, of one source version; kept
 *   claims/<hash>.json.g<n>       takeover marker of generation n; removed after use
 *   claims/<hash>.json.unreadable.g<n>  a body that did not parse, kept when generation n replaced it
 *   pending/<hash>~<imageId>      one empty object per import the tracker still follows
 *   waiting/<disk>/<manifest>.json  a manifest waiting for a disk (one per pair: disks may be shared)
 *   images/<hash>~<imageId>       one empty object per image the tracker re-checks in ENS (available,
 *                                 or timed out: ENS may still finish it)
 *   recheck.json                  where the tracker's rolling re-check of images/ goes on next
 *   deletions/<hash>~<imageId>    a superseded version's image to delete (previous: delete-after-available)
 *   keys/<sha256(bucket,key)>/<job>~<hash>.json  one empty object per version of a key a job
 *                                 claimed (import: claims/, conversion: conversions/): a key's
 *                                 history, found even after the object is deleted
 *   fanout/<hash>/map-<i>.json    a fan-out worker's map of guest range i of one source version
 *   fanout/<hash>/data-<i>-<id>   its data clusters (attempt <id>); the job's folder is removed once
 *                                 the conversion is recorded
 *   notices/<time>-<id>.json      a notice a chat robot's rate limit held back (the tracker's digest)
 *   tracker.lock                  one tracker run at a time
 */
export interface StateLayout {
  readonly prefix: string;
  claimKey(bucket: string, key: string, etag: string): string;
  /** the converter's claim of a source version (its own lease: a `.img` has both) */
  conversionKey(bucket: string, key: string, etag: string): string;
  claimHash(claimKey: string): string;
  pendingKey(claimKey: string, imageId: string): string;
  /** the pending entries of one claim (at most one in practice) */
  pendingPrefixOf(claimKey: string): string;
  readonly pendingPrefix: string;
  parsePendingKey(key: string): { imageId: string; claimKey: string } | undefined;
  waitingKey(bucket: string, manifestKey: string, diskKey: string): string;
  /** the waiting entries of every manifest that waits for this disk */
  waitingPrefixOf(bucket: string, diskKey: string): string;
  readonly waitingPrefix: string;
  readonly trackerLockKey: string;
  /** a notice held back by the robot's rate limit, named by when it was made */
  heldNoticeKey(at: string, id: string): string;
  readonly heldNoticesPrefix: string;
  /** an image the tracker keeps re-checking in ENS (its record's key and ImageId in the name) */
  imageKey(claimKey: string, imageId: string): string;
  readonly imagesPrefix: string;
  parseImageKey(key: string): { imageId: string; claimKey: string } | undefined;
  readonly recheckCursorKey: string;
  deletionKey(claimKey: string, imageId: string): string;
  readonly deletionsPrefix: string;
  parseDeletionKey(key: string): { imageId: string; claimKey: string } | undefined;
  /** the entry that lists a claimed version under its key (`job`: import or conversion) */
  keyVersionKey(bucket: string, key: string, job: 'import' | 'conversion', claimKey: string): string;
  /** every version of one key any job claimed */
  keyVersionsPrefix(bucket: string, key: string): string;
  /** the claim or conversion record an entry of keyVersionsPrefix names */
  parseKeyVersion(entryKey: string): { job: 'import' | 'conversion'; recordKey: string } | undefined;
  markerKey(leaseKey: string, generation: number): string;
  /** where a lease body that did not parse is kept when generation n replaces it */
  asideKey(leaseKey: string, generation: number): string;
  /** one source version's fan-out job: its workers' maps and data objects */
  fanOutPrefix(bucket: string, key: string, etag: string): string;
  isStateKey(key: string): boolean;
}

const digest = (parts: string[]): string => createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40);

const IMAGE_ID = /^m-[a-z0-9]{1,64}$/;

export function stateLayout(prefix: string): StateLayout {
  const claims = `${prefix}claims/`;
  const pending = `${prefix}pending/`;
  const waiting = `${prefix}waiting/`;
  const images = `${prefix}images/`;
  /** `<claim hash>~<imageId>` after `under`, as the claim key and ImageId it names */
  const parseIndexed = (under: string, key: string) => {
    if (!key.startsWith(under)) return undefined;
    const m = /^([0-9a-f]{40})~(.+)$/.exec(key.slice(under.length));
    if (!m || !IMAGE_ID.test(m[2]!)) return undefined;
    return { imageId: m[2]!, claimKey: `${claims}${m[1]}.json` };
  };
  const claimHash = (claimKey: string): string => claimKey.slice(claims.length).replace(/\.json$/, '');
  return {
    prefix,
    claimKey: (bucket, key, etag) => `${claims}${digest([bucket, key, etag])}.json`,
    conversionKey: (bucket, key, etag) => `${prefix}conversions/${digest([bucket, key, etag])}.json`,
    claimHash,
    pendingKey: (claimKey, imageId) => `${pending}${claimHash(claimKey)}~${imageId}`,
    pendingPrefixOf: (claimKey) => `${pending}${claimHash(claimKey)}~`,
    pendingPrefix: pending,
    parsePendingKey: (key) => parseIndexed(pending, key),
    imageKey: (claimKey, imageId) => `${images}${claimHash(claimKey)}~${imageId}`,
    imagesPrefix: images,
    parseImageKey: (key) => parseIndexed(images, key),
    recheckCursorKey: `${prefix}recheck.json`,
    deletionKey: (claimKey, imageId) => `${prefix}deletions/${claimHash(claimKey)}~${imageId}`,
    deletionsPrefix: `${prefix}deletions/`,
    parseDeletionKey: (key) => parseIndexed(`${prefix}deletions/`, key),
    keyVersionKey: (bucket, key, job, claimKey) => `${prefix}keys/${digest([bucket, key])}/${job}~${claimKey.split('/').pop()}`,
    keyVersionsPrefix: (bucket, key) => `${prefix}keys/${digest([bucket, key])}/`,
    parseKeyVersion(entryKey) {
      const m = /\/(import|conversion)~([0-9a-f]{40}\.json)$/.exec(entryKey);
      if (!m || !entryKey.startsWith(`${prefix}keys/`)) return undefined;
      const job = m[1] as 'import' | 'conversion';
      return { job, recordKey: `${job === 'import' ? claims : `${prefix}conversions/`}${m[2]}` };
    },
    waitingKey: (bucket, manifestKey, diskKey) => `${waiting}${digest([bucket, diskKey])}/${digest([bucket, manifestKey])}.json`,
    waitingPrefixOf: (bucket, diskKey) => `${waiting}${digest([bucket, diskKey])}/`,
    waitingPrefix: waiting,
    trackerLockKey: `${prefix}tracker.lock`,
    heldNoticeKey: (at, id) => `${prefix}notices/${at.replace(/[^0-9TZ]/g, '')}-${id}.json`,
    heldNoticesPrefix: `${prefix}notices/`,
    markerKey: (leaseKey, generation) => `${leaseKey}.g${generation}`,
    asideKey: (leaseKey, generation) => `${leaseKey}.unreadable.g${generation}`,
    fanOutPrefix: (bucket, key, etag) => `${prefix}fanout/${digest([bucket, key, etag])}/`,
    isStateKey: (key) => key.startsWith(prefix),
  };
}
