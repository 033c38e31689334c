import type { ObjectStore } from '../adapters/object-store';
import type { Logger } from '../runtime/logger';
import { bucketVersioning } from './object-head';
import { writeImporterTags } from './object-tags';

/**
 * A bucket with versioning ignores x-oss-forbid-overwrite, so no claim holds there: every
 * job refuses it the same way, on the object too, so the failure is never invisible.
 */
export async function refuseVersionedBucket(
  store: ObjectStore,
  log: Logger,
  key: string,
  now: number,
): Promise<{ outcome: 'failed'; errorCode: string; reason: string; retryable: false } | undefined> {
  const versioning = await bucketVersioning(store, now);
  if (!versioning) return undefined;
  await writeImporterTags(store, log, { key }, 'failed', { error: 'bucket-versioning' }).catch(() => undefined);
  return {
    outcome: 'failed',
    errorCode: 'bucket-versioning',
    retryable: false,
    reason: `bucket ${store.bucket} has versioning ${versioning}: OSS ignores x-oss-forbid-overwrite there, so the importer cannot guarantee one import or conversion per upload; use a bucket that never had versioning`,
  };
}
