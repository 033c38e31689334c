import { listAll } from '../adapters/object-store';
import type { ObjectEvent } from '../core/event';
import type { ObjectResult } from '../core/outcome';
import { stateLayout } from '../state/layout';
import { parseWaiting } from '../state/records';
import type { PipelineDeps } from './pipeline';

/**
 * Manifests that arrived before their disks: one waiting entry per missing disk, a disk's
 * upload wakes its manifest, and the tracker runs the ones whose wait is over.
 */

type Process = (event: ObjectEvent, deps: PipelineDeps) => Promise<ObjectResult>;

/** Thrown when a woken manifest failed transiently: the disk's event is retried, and wakes it again. */
export class ManifestRetryError extends Error {
  override name = 'ManifestRetryError';
}

/** A disk a waiting manifest needs has arrived: run the manifest again. */
export async function wakeWaitingManifest(event: ObjectEvent, diskKey: string, deps: PipelineDeps, process: Process): Promise<void> {
  const layout = stateLayout(deps.config.statePrefix);
  const entryKey = layout.waitingKey(event.bucket, diskKey);
  const text = await deps.store.getText(entryKey);
  if (text === undefined) return;
  const waiting = parseWaiting(text);
  if (!waiting || waiting.bucket !== event.bucket) {
    deps.log.warn({
      event: 'state-object-invalid',
      key: entryKey,
      reason: 'a waiting entry that does not parse, or names another bucket; removed',
    });
    await deps.store.delete(entryKey);
    return;
  }
  deps.log.info({ event: 'manifest-woken', bucket: event.bucket, key: waiting.manifestKey, disk: diskKey });
  const result = await process(
    { eventName: 'ObjectCreated:PutObject', region: event.region, bucket: event.bucket, key: waiting.manifestKey },
    deps,
  );
  // kept until the manifest is through, so a retry of this disk's event wakes it again
  if (result.outcome === 'failed')
    throw new ManifestRetryError(`the waiting manifest ${waiting.manifestKey} failed: ${result.reason ?? ''}`);
  if (!deps.config.dryRun) await deps.store.delete(entryKey);
}

export async function clearWaiting(bucket: string, disks: string[], deps: PipelineDeps): Promise<void> {
  const layout = stateLayout(deps.config.statePrefix);
  for (const d of disks) await deps.store.delete(layout.waitingKey(bucket, d));
}

/** The tracker's sweep: run every manifest whose wait is over; stops at `deps.deadline`. */
export async function expireWaitingManifests(
  region: string,
  deps: PipelineDeps,
  process: Process,
  now: () => number = Date.now,
): Promise<number> {
  const { store, log } = deps;
  const layout = stateLayout(deps.config.statePrefix);
  const due = new Set<string>();
  for await (const o of listAll(store, layout.waitingPrefix, deps.deadline, now)) {
    const entry = parseWaiting(await store.getText(o.key));
    if (!entry || entry.bucket !== store.bucket) {
      log.warn({
        event: 'state-object-invalid',
        key: o.key,
        reason: 'a waiting entry that does not parse, or names another bucket; removed',
      });
      await store.delete(o.key);
    } else if (Date.parse(entry.deadline) <= now()) due.add(entry.manifestKey);
    if (now() >= deps.deadline) break;
  }
  for (const manifestKey of due) {
    if (now() >= deps.deadline) break;
    await process({ eventName: 'ObjectCreated:PutObject', region, bucket: store.bucket, key: manifestKey }, deps);
  }
  return due.size;
}
