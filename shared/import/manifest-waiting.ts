import { listAll } from '../adapters/object-store';
import type { ObjectEvent } from '../core/event';
import type { ObjectResult } from '../core/outcome';
import { stateLayout } from '../state/layout';
import { parseWaiting } from '../state/records';
import type { PipelineDeps } from './deps';

/**
 * Manifests that arrived before their disks: one waiting entry per (manifest, disk), so two
 * manifests sharing a disk both wait; a disk's upload wakes every manifest waiting for it, and
 * the tracker runs the ones whose wait is over, removing entries whose manifest is gone.
 */

type Process = (event: ObjectEvent, deps: PipelineDeps) => Promise<ObjectResult>;

/** Thrown when a woken manifest failed transiently: the disk's event is retried, and wakes it again. */
export class ManifestRetryError extends Error {
  override name = 'ManifestRetryError';
}

const manifestEvent = (region: string, bucket: string, key: string): ObjectEvent => ({
  eventName: 'ObjectCreated:PutObject',
  region,
  bucket,
  key,
});

/** A disk some waiting manifests need has arrived: run each of them again. */
export async function wakeWaitingManifest(event: ObjectEvent, diskKey: string, deps: PipelineDeps, process: Process): Promise<void> {
  const layout = stateLayout(deps.config.statePrefix);
  const failed: string[] = [];
  for await (const o of listAll(deps.store, layout.waitingPrefixOf(event.bucket, diskKey), deps.deadline)) {
    const waiting = parseWaiting(await deps.store.getText(o.key));
    if (!waiting || waiting.bucket !== event.bucket) {
      deps.log.warn({
        event: 'state-object-invalid',
        key: o.key,
        reason: 'a waiting entry that does not parse, or names another bucket; removed',
      });
      await deps.store.delete(o.key);
      continue;
    }
    deps.log.info({ event: 'manifest-woken', bucket: event.bucket, key: waiting.manifestKey, disk: diskKey });
    const result = await process(manifestEvent(event.region, event.bucket, waiting.manifestKey), deps);
    // kept until the manifest is through, so a retry of this disk's event wakes it again
    if (result.outcome === 'failed') failed.push(waiting.manifestKey);
    else if (!deps.config.dryRun) await deps.store.delete(o.key);
  }
  if (failed.length) throw new ManifestRetryError(`the waiting manifest(s) ${failed.join(', ')} failed; the disk's event is retried`);
}

export async function clearWaiting(bucket: string, manifestKey: string, disks: string[], deps: PipelineDeps): Promise<void> {
  const layout = stateLayout(deps.config.statePrefix);
  for (const d of disks) await deps.store.delete(layout.waitingKey(bucket, manifestKey, d));
}

/** The tracker's sweep: run every manifest whose wait is over; stops at `deps.deadline`, the next run goes on. */
export async function expireWaitingManifests(
  region: string,
  deps: PipelineDeps,
  process: Process,
  now: () => number = Date.now,
): Promise<number> {
  const { store, log } = deps;
  const layout = stateLayout(deps.config.statePrefix);
  const due = new Map<string, string[]>();
  for await (const o of listAll(store, layout.waitingPrefix, deps.deadline, now)) {
    const entry = parseWaiting(await store.getText(o.key));
    if (!entry || entry.bucket !== store.bucket) {
      log.warn({
        event: 'state-object-invalid',
        key: o.key,
        reason: 'a waiting entry that does not parse, or names another bucket; removed',
      });
      await store.delete(o.key);
    } else if (Date.parse(entry.deadline) <= now()) due.set(entry.manifestKey, entry.missing);
    if (now() >= deps.deadline) break;
  }
  for (const [manifestKey, missing] of due) {
    if (now() >= deps.deadline) break;
    const result = await process(manifestEvent(region, store.bucket, manifestKey), deps);
    // a manifest deleted while it waited leaves entries no upload will ever clear
    if (result.errorCode === 'object-missing') {
      log.info({ event: 'manifest-waiting-removed', bucket: store.bucket, key: manifestKey, reason: 'the manifest no longer exists' });
      await clearWaiting(store.bucket, manifestKey, missing, deps);
    }
  }
  return due.size;
}
