import type { ObjectResult } from '../core/outcome';
import { TAG_ERROR, TAG_IMAGE_ID, TAG_STATUS } from '../core/tags';
import { writeImporterTags } from '../lifecycle/object-tags';
import { tagIfCurrent } from '../lifecycle/version-tags';
import type { ImportRecord } from '../state/records';
import type { PipelineDeps } from './deps';

/**
 * This version is already handled. A new upload of the same bytes replaced the object's tags
 * (OSS does), so the record's truth is written back. A redelivery ends here too, and says the
 * record's truth again when the object's tags do not (an attempt can end between its record
 * and its tags: `retrying` left on an import whose record was written).
 */
export async function duplicateOf(record: ImportRecord, newUpload: boolean, deps: PipelineDeps): Promise<Partial<ObjectResult>> {
  if (newUpload && record.state !== 'claimed') {
    for (const key of [record.key, ...(record.state === 'rejected' ? [] : (record.disks ?? []))]) {
      await writeImporterTags(deps.store, deps.log, { key, ifUnowned: key !== record.key }, record.state, {
        imageId: record.imageId,
        error: record.errorCode,
      });
    }
  } else if (record.state !== 'claimed' && (await tagsDisagree(record, deps))) {
    await tagIfCurrent(deps.store, deps.log, record, record.state, { imageId: record.imageId, error: record.errorCode });
  }
  const by = `claimed ${record.claimedAt} by ${record.requestId ?? 'unknown'}`;
  return {
    outcome: 'duplicate',
    imageId: record.imageId,
    errorCode: record.errorCode,
    reason: `already ${record.state} for this ETag (${by})${newUpload ? '; tags written back after the new upload' : ''}`,
  };
}

/** Whether the object's tags say something other than the record (one read; a gone object agrees). */
async function tagsDisagree(record: ImportRecord, deps: PipelineDeps): Promise<boolean> {
  const tags = await deps.store.getTags(record.key);
  if (!tags) return false;
  return tags[TAG_STATUS] !== record.state || tags[TAG_IMAGE_ID] !== record.imageId || tags[TAG_ERROR] !== record.errorCode;
}
