import type { ObjectStore } from '../../shared/adapters/object-store';
import { versionsOf } from '../../shared/state/key-versions';
import type { StateLayout } from '../../shared/state/layout';

/** One version of a key, as its record tells it. */
export interface KeyVersion {
  job: 'import' | 'conversion';
  etag: string;
  state: string;
  claimedAt: string;
  imageId?: string;
  errorCode?: string;
  attempt?: number;
  /** a superseded (or deleted-with-the-object) version's image: pending, deleted, refused, kept */
  imageDeletion?: string;
}

/**
 * Every version of a key any job claimed, oldest first, from the key's history under the state
 * prefix: it outlives the object, so `why` can tell the story of a deleted key.
 */
export async function readKeyHistory(store: ObjectStore, layout: StateLayout, key: string): Promise<KeyVersion[]> {
  const versions = (await versionsOf(store, layout, store.bucket, key)).map(({ job, record: r }) => ({
    job,
    etag: r.etag,
    state: r.state,
    claimedAt: r.claimedAt,
    ...('imageId' in r && r.imageId ? { imageId: r.imageId } : {}),
    ...(r.errorCode ? { errorCode: r.errorCode } : {}),
    ...(r.attempt ? { attempt: r.attempt } : {}),
    ...('imageDeletion' in r && r.imageDeletion ? { imageDeletion: r.imageDeletion.state } : {}),
  }));
  return versions.sort((a, b) => a.claimedAt.localeCompare(b.claimedAt));
}
