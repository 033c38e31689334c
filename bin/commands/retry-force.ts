import type { EnsApi } from '../../shared/adapters/ens';
import type { ObjectStore } from '../../shared/adapters/object-store';
import { stateLayout } from '../../shared/state/layout';
import { moveImageState } from '../../shared/track/recheck';
import type { Logger } from '../../shared/runtime/logger';
import type { ObjectStory } from '../story/object-story';

/**
 * `retry --force`: a version whose image ENS no longer has is made `deleted`, as the tracker's
 * re-check would, so that the retry imports it anew. A version whose image ENS still has is
 * never imported again: ENS is asked, and its word decides.
 */
export async function forgetGoneImage(
  store: ObjectStore,
  ens: EnsApi,
  log: Logger,
  story: ObjectStory,
  statePrefix: string,
): Promise<{ gone: true } | { gone: false; reason: string }> {
  const record = story.record;
  if (!record?.imageId || !story.etag) return { gone: false, reason: 'no image recorded for this version' };
  const answer = await ens.describeSelfImages({ ImageId: record.imageId, PageSize: 50 }, 10_000);
  const seen = answer.images.find((i) => i.ImageId === record.imageId);
  if (seen)
    return {
      gone: false,
      reason: `ENS still has ${record.imageId} (${seen.Status}); --force re-imports only a version whose image is gone`,
    };
  const claimKey = stateLayout(statePrefix).claimKey(store.bucket, record.key, record.etag);
  await moveImageState(
    { store, log },
    claimKey,
    record,
    { to: 'deleted', error: 'image-deleted', note: 'ENS no longer has the image (seen by ens-importer retry --force)' },
    Date.now(),
  );
  return { gone: true };
}
