import type { ObjectStore } from '../adapters/object-store';
import type { Logger } from '../runtime/logger';
import { mergeTags, TAG_ERROR, TAG_IMAGE_ID, TAG_STATUS, unsendableTags, type ImportStatus } from '../core/tags';

/**
 * Write the importer's tags on an object, keeping the user's (OSS replaces the whole set,
 * so read, merge, write). Used by the pipeline and the tracker alike.
 */
export async function writeImporterTags(
  store: ObjectStore,
  log: Logger,
  target: { key: string; tagCount?: number; ifUnowned?: boolean },
  status: ImportStatus,
  extra: { imageId?: string; error?: string },
): Promise<void> {
  // a known tag count of 0 saves the read
  const current = target.tagCount === 0 ? {} : await store.getTags(target.key);
  if (current === undefined) {
    log.warn({
      event: 'object-gone',
      bucket: store.bucket,
      key: target.key,
      reason: 'the object was deleted before its tags could be written',
    });
    return;
  }
  // a disk of a multi-disk image that carries its own (or another manifest's) import keeps it
  const owner = current[TAG_IMAGE_ID];
  if (target.ifUnowned && owner && owner !== extra.imageId) {
    log.info({
      event: 'tags-kept',
      bucket: store.bucket,
      key: target.key,
      imageId: owner,
      reason: "the disk carries another import's result; left as it is",
    });
    return;
  }
  const merged = mergeTags(current, { [TAG_IMAGE_ID]: extra.imageId, [TAG_STATUS]: status, [TAG_ERROR]: extra.error });
  if (merged.left.length) {
    log.warn({
      event: 'tags-full',
      bucket: store.bucket,
      key: target.key,
      notWritten: merged.left,
      reason: 'the object already has 10 tags; the import record holds the result',
    });
  }
  const refused = unsendableTags(merged.tags);
  if (refused.length) {
    // ali-oss refuses the whole set before sending; the user's tags are never dropped to make
    // room, so the importer's stay unwritten and the import record holds the result
    const reason = `tag(s) ${refused.join(', ')} cannot be sent back by ali-oss (empty value or a character outside A-Z a-z 0-9 space + - = . _ : /); the object's tags are left as they are and the import record holds the result`;
    log.warn({ event: 'tags-not-writable', bucket: store.bucket, key: target.key, tags: refused, reason });
    return;
  }
  if (!(await store.putTags(target.key, merged.tags))) {
    log.warn({
      event: 'object-gone',
      bucket: store.bucket,
      key: target.key,
      reason: 'the object was deleted before its tags could be written',
    });
  }
}
