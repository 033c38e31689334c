import { OssCallError, type ObjectStore } from '../adapters/object-store';
import { isPermissionCode } from '../core/permission';
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
  const current = target.tagCount === 0 ? {} : await permitted(store.getTags(target.key), log, store.bucket, target.key);
  if (current === null) return;
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
  if (!(await putOrExplain(store, log, target.key, merged.tags))) {
    log.warn({
      event: 'object-gone',
      bucket: store.bucket,
      key: target.key,
      reason: 'the object was deleted before its tags could be written',
    });
  }
}

/**
 * A role without the tagging actions cannot write tags, and retrying will not change
 * that: said at error level with the action to grant; the import record holds the result.
 */
async function permitted<T>(call: Promise<T>, log: Logger, bucket: string, key: string): Promise<T | null> {
  try {
    return await call;
  } catch (err) {
    if (!(err instanceof OssCallError) || !isPermissionCode(err.code)) throw err;
    log.error({
      event: 'tags-not-written',
      bucket,
      key,
      errorCode: err.code,
      missingAction: err.action,
      reason: `the function's role may not ${err.action ?? 'tag objects'}; grant it (deploy/ram/function-policy.json); the import record holds the result`,
    });
    return null;
  }
}

async function putOrExplain(store: ObjectStore, log: Logger, key: string, tags: Record<string, string>): Promise<boolean> {
  const put = await permitted(store.putTags(key, tags), log, store.bucket, key);
  return put !== false;
}

/**
 * While FC retries, the object says so (a failure is never invisible); best effort. An ImageId
 * the attempt already has (ImportImage answered, a later write failed) stays on the object.
 */
export async function markRetrying(store: ObjectStore, log: Logger, key: string, code: string, imageId?: string): Promise<void> {
  try {
    await writeImporterTags(store, log, { key }, 'retrying', { error: code, ...(imageId ? { imageId } : {}) });
  } catch (err) {
    log.warn({ event: 'tags-not-written', key, reason: String((err as Error).message) });
  }
}
