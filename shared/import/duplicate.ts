import type { ObjectResult } from '../core/outcome';
import type { ImportRecord } from '../state/records';
import { writeImporterTags } from '../lifecycle/object-tags';
import type { PipelineDeps } from './deps';

/**
 * This version is already handled. A redelivery ends here; a new upload of the same bytes
 * replaced the object's tags (OSS does), so the record's truth is written back.
 */
export async function duplicateOf(record: ImportRecord, newUpload: boolean, deps: PipelineDeps): Promise<Partial<ObjectResult>> {
  if (newUpload && record.state !== 'claimed') {
    for (const key of [record.key, ...(record.state === 'rejected' ? [] : (record.disks ?? []))]) {
      await writeImporterTags(deps.store, deps.log, { key, ifUnowned: key !== record.key }, record.state, {
        imageId: record.imageId,
        error: record.errorCode,
      });
    }
  }
  const by = `claimed ${record.claimedAt} by ${record.requestId ?? 'unknown'}`;
  return {
    outcome: 'duplicate',
    imageId: record.imageId,
    errorCode: record.errorCode,
    reason: `already ${record.state} for this ETag (${by})${newUpload ? '; tags written back after the new upload' : ''}`,
  };
}
