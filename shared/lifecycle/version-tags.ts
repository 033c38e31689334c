import type { ObjectStore } from '../adapters/object-store';
import type { ImportStatus } from '../core/tags';
import type { Logger } from '../runtime/logger';
import { writeImporterTags } from './object-tags';

/**
 * The object's tags describe the version it holds now. Whatever ends a version (a late
 * give-up, the tracker, a conversion) writes them only while the object still holds that
 * ETag; otherwise the version's record alone says it, and the log names both versions.
 * OSS has no conditional PutObjectTagging, so the check is a HEAD just before the write.
 */
export type VersionTagging = 'written' | 'newer-version' | 'gone';

export async function tagIfCurrent(
  store: ObjectStore,
  log: Logger,
  version: { key: string; etag: string },
  status: ImportStatus,
  extra: { imageId?: string; error?: string },
  retry: <T>(call: () => Promise<T>) => Promise<T> = (call) => call(),
): Promise<VersionTagging> {
  const current = await retry(() => store.head(version.key));
  if (!current) return 'gone';
  if (current.etag !== version.etag) {
    log.info({
      event: 'tags-not-written',
      bucket: store.bucket,
      key: version.key,
      etag: version.etag,
      currentEtag: current.etag,
      status,
      reason: `the object now holds another version (ETag ${current.etag}); this version's record says ${status}, the object's tags stay the newer version's`,
    });
    return 'newer-version';
  }
  await retry(() => writeImporterTags(store, log, { key: version.key, tagCount: current.tagCount }, status, extra));
  return 'written';
}
