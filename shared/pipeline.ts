import { EnsCallError, type EnsApi } from './adapters/ens';
import { OssCallError, type HeadRead, type ObjectStore } from './adapters/object-store';
import { realClock, type Clock } from './clock';
import type { ImporterConfig } from './config';
import { isImportable, type ObjectEvent } from './event';
import { ImportSession } from './import-session';
import type { Logger } from './logger';
import { isManifestKey } from './manifest';
import { writeImporterTags } from './object-tags';
import type { ObjectResult } from './outcome';
import { claimVersion } from './state/claim';
import { stateLayout } from './state/layout';
import { parseWaiting, type ImportRecord } from './state/records';
import { manifestTarget, objectTarget, type Target } from './targets';

/**
 * One upload's path, top to bottom. Each step is named and idempotent: whatever a crash
 * interrupts, the next delivery (or the tracker) finishes from what is durably written.
 */

export interface PipelineDeps {
  config: ImporterConfig;
  /** the object store of the event's bucket */
  store: ObjectStore;
  ens: EnsApi;
  log: Logger;
  requestId: string;
  /** epoch ms by which the invocation must be done (function timeout less a margin) */
  deadline: number;
  clock?: Clock;
  /** Test seam: called at each named step; a promise that never settles is a crash there. */
  onStep?: (step: string) => void | Promise<void>;
}

/** A bucket with versioning ignores x-oss-forbid-overwrite, so no claim holds there. */
const versioningSeen = new Map<string, { status: string | undefined; at: number }>();
const VERSIONING_RECHECK_MS = 5 * 60_000;

async function bucketVersioning(deps: PipelineDeps, now: number): Promise<string | undefined> {
  const cached = versioningSeen.get(deps.store.bucket);
  if (cached && now - cached.at < VERSIONING_RECHECK_MS) return cached.status;
  const status = await deps.store.getVersioning();
  versioningSeen.set(deps.store.bucket, { status, at: now });
  return status;
}

function safeDecodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

type HeadStep = { kind: 'read'; key: string; head: HeadRead } | { kind: 'gone' };

/** One ranged read; a key that may arrive URL-encoded is tried decoded once. */
async function readCurrentHead(key: string, deps: PipelineDeps): Promise<HeadStep> {
  const head = await deps.store.readHead(key, deps.config.headerBytes);
  if (head) return { kind: 'read', key, head };
  const decoded = /[%+]/.test(key) ? safeDecodeKey(key) : key;
  if (decoded !== key) {
    const retried = await deps.store.readHead(decoded, deps.config.headerBytes);
    if (retried) return { kind: 'read', key: decoded, head: retried };
  }
  return { kind: 'gone' };
}

export async function processObjectEvent(event: ObjectEvent, deps: PipelineDeps): Promise<ObjectResult> {
  const clock = deps.clock ?? realClock;
  const { config, store, log } = deps;
  const layout = stateLayout(config.statePrefix);
  const started = clock.now();
  const result: ObjectResult = {
    outcome: 'skipped',
    bucket: event.bucket,
    key: event.key,
    etag: event.etag,
    size: event.size,
    requestId: deps.requestId,
    attempts: 0,
    durationMs: 0,
  };
  const finish = (r: Partial<ObjectResult>, extra: object = {}): ObjectResult => {
    Object.assign(result, r, { durationMs: clock.now() - started });
    if (config.dryRun) result.dryRun = true;
    const level = result.outcome === 'failed' ? 'error' : result.outcome === 'rejected' ? 'warn' : 'info';
    log[level]({ ...result, ...extra });
    return result;
  };

  // 1. Screen the event: its kind, and never the importer's own state.
  if (!isImportable(event.eventName)) return finish({ errorCode: 'event-kind', reason: `${event.eventName} does not complete an upload` });
  if (layout.isStateKey(event.key))
    return finish({ errorCode: 'state-object', reason: `keys under ${config.statePrefix} are the importer's own state` });

  let session: ImportSession | undefined;
  try {
    // 2. A versioned bucket cannot hold a claim: refuse loudly, import nothing.
    const versioning = await bucketVersioning(deps, clock.now());
    if (versioning) {
      return finish({
        outcome: 'failed',
        errorCode: 'bucket-versioning',
        reason: `bucket ${event.bucket} has versioning ${versioning}: OSS ignores x-oss-forbid-overwrite there, so the importer cannot guarantee one import per upload; suspend nothing, use a bucket that never had versioning`,
      });
    }

    // 3. Claim first, on the event's ETag: a redelivery ends here in two requests. A key that
    //    may arrive URL-encoded, or an event without an ETag, is read first to learn both.
    let read: HeadStep | undefined;
    if (!event.etag || /[%+]/.test(event.key)) {
      read = await readCurrentHead(event.key, deps);
      if (read.kind === 'gone')
        return finish({
          outcome: 'rejected',
          errorCode: 'object-missing',
          reason: 'the object no longer exists (deleted or renamed after the upload)',
        });
      result.key = read.key;
    }
    const etag = event.etag ?? (read?.kind === 'read' ? read.head.etag : '');
    result.etag = etag;
    if (config.dryRun) return finish(await dryRun(event, result.key, read, deps, layout));

    const claimOnce = () =>
      claimVersion(
        store,
        layout,
        {
          version: { bucket: event.bucket, key: result.key, etag, size: event.size },
          uploadRequestId: event.requestId,
          eventName: event.eventName,
          requestId: deps.requestId,
          deadline: deps.deadline,
          now: clock.now(),
        },
        deps.deadline - clock.now() + 60_000,
      );
    let claim = await claimOnce();
    // A live claim: a concurrent delivery, or a holder that failed and could not release it.
    // Its deadline is never later than ours would be, so waiting for it to end fits.
    for (let wait = 500; claim.kind === 'held'; wait = Math.min(wait * 2, 5_000)) {
      const holderEnds = claim.record ? Date.parse(claim.record.claimDeadline) + 1 : clock.now() + wait;
      const pause = Math.max(1, Math.min(wait, holderEnds - clock.now()));
      if (clock.now() + pause >= deps.deadline) {
        return finish({
          outcome: 'failed',
          errorCode: 'claim-busy',
          reason: `another invocation (${claim.record?.requestId ?? 'unknown'}) holds this version until ${claim.record?.claimDeadline ?? 'soon'}; FC's retry will find it finished or free`,
        });
      }
      await clock.sleep(pause);
      claim = await claimOnce();
    }
    if (claim.kind === 'done') return finish(await duplicateOf(claim.record, claim.newUpload, deps));
    if (claim.previous)
      log.warn({
        event: 'claim-taken-over',
        bucket: event.bucket,
        key: result.key,
        previousHolder: claim.previous.requestId,
        previousState: claim.previous.state,
        sentSince: claim.record.sentSince,
      });
    if (claim.invalidPrevious)
      log.warn({ event: 'state-object-invalid', key: claim.key, reason: 'the claim object did not parse as an import record; replaced' });
    session = new ImportSession(claim.key, claim.record, {
      config,
      store,
      ens: deps.ens,
      log,
      layout,
      clock,
      deadline: deps.deadline,
      onStep: deps.onStep,
    });
    await deps.onStep?.('after-claim');

    // 4. The object as it is now: gone, overwritten, or this version.
    read ??= await readCurrentHead(result.key, deps);
    if (read.kind === 'gone') {
      await session.release('object-missing');
      return finish({
        outcome: 'rejected',
        errorCode: 'object-missing',
        reason: 'the object no longer exists (deleted or renamed after the upload)',
      });
    }
    result.size = read.head.size;
    if (read.head.etag !== etag) {
      await session.release('superseded');
      return finish({
        errorCode: 'superseded',
        reason: `the object was overwritten (ETag now ${read.head.etag}); the newer upload's event imports it`,
      });
    }

    // 5. What to import, every parameter with its provenance; or why not.
    const target = await resolveTarget(event, read, deps, layout, clock.now());
    if (target.kind === 'skip') {
      await session.release(target.errorCode);
      if (!isManifestKey(read.key)) await wakeWaitingManifest(event, read.key, deps);
      return finish({ errorCode: target.errorCode, reason: target.reason });
    }
    result.imageName = target.kind === 'import' ? target.params.ImageName : target.imageName;
    if (target.kind === 'reject') {
      const reason = target.problems.map((p) => p.message).join('; ');
      await session.reject(target, target.problems[0]!.code, reason);
      if (target.disks) await clearWaiting(event.bucket, target.disks, deps);
      return finish({ outcome: 'rejected', errorCode: target.problems[0]!.code, reason }, target.details);
    }
    for (const fix of target.nameFixes)
      log.info({ event: 'image-name-fixed', bucket: event.bucket, key: read.key, from: fix.original, to: fix.fixed });

    // 6. ImportImage, at most once in effect; then the result made durable.
    const imported = await session.importOnce(target);
    result.attempts = imported.attempts;
    if (imported.kind === 'refused') {
      const e = imported.error;
      await session.reject(target, e.code, `ImportImage refused: ${e.message}`, e.requestId);
      return finish(
        { outcome: 'rejected', errorCode: e.code, reason: `ImportImage refused: ${e.message}`, ensRequestId: e.requestId },
        target.details,
      );
    }
    if (imported.ensRequestId) result.ensRequestId = imported.ensRequestId;
    await session.complete(target, imported);
    if (target.disks) await clearWaiting(event.bucket, target.disks, deps);
    return finish({ outcome: 'imported', imageId: imported.imageId }, target.details);
  } catch (err) {
    const code =
      err instanceof EnsCallError || err instanceof OssCallError
        ? err.code
        : err instanceof ManifestRetryError
          ? 'manifest-retry'
          : 'InternalError';
    const message = err instanceof Error ? err.message : String(err);
    await session?.release(`${code}: ${message}`);
    return finish({ outcome: 'failed', errorCode: code, reason: message, attempts: session?.attempts ?? 0 });
  }
}

function resolveTarget(
  event: ObjectEvent,
  read: { key: string; head: HeadRead },
  deps: PipelineDeps,
  layout: ReturnType<typeof stateLayout>,
  now: number,
): Promise<Target> | Target {
  const input = { region: event.region, bucket: event.bucket, key: read.key, head: read.head };
  return isManifestKey(read.key) ? manifestTarget(input, deps.config, deps.store, layout, now) : objectTarget(input, deps.config);
}

async function dryRun(
  event: ObjectEvent,
  key: string,
  read: HeadStep | undefined,
  deps: PipelineDeps,
  layout: ReturnType<typeof stateLayout>,
): Promise<Partial<ObjectResult>> {
  const r = read ?? (await readCurrentHead(key, deps));
  if (r.kind === 'gone') return { outcome: 'rejected', errorCode: 'object-missing', reason: 'the object no longer exists' };
  const target = await resolveTarget(event, r, deps, layout, (deps.clock ?? realClock).now());
  if (target.kind === 'skip') return { errorCode: target.errorCode, reason: target.reason };
  if (target.kind === 'reject')
    return { outcome: 'rejected', errorCode: target.problems[0]!.code, reason: target.problems.map((p) => p.message).join('; ') };
  return { imageName: target.params.ImageName, errorCode: 'dry-run', reason: 'IMPORTER_DRY_RUN=true: would import' };
}

/**
 * This version is already handled. A redelivery ends here; a new upload of the same bytes
 * replaced the object's tags (OSS does), so the record's truth is written back.
 */
async function duplicateOf(record: ImportRecord, newUpload: boolean, deps: PipelineDeps): Promise<Partial<ObjectResult>> {
  if (newUpload && record.state !== 'claimed') {
    const status = record.state === 'rejected' ? 'rejected' : record.state;
    for (const key of [record.key, ...(record.state === 'rejected' ? [] : (record.disks ?? []))]) {
      await writeImporterTags(deps.store, deps.log, { key }, status, { imageId: record.imageId, error: record.errorCode });
    }
  }
  return {
    outcome: 'duplicate',
    imageId: record.imageId,
    errorCode: record.errorCode,
    reason: `already ${record.state} for this ETag (claimed ${record.claimedAt} by ${record.requestId ?? 'unknown'})${newUpload ? '; tags written back after the new upload' : ''}`,
  };
}

/** A disk a waiting manifest needs has arrived: run the manifest again. */
async function wakeWaitingManifest(event: ObjectEvent, diskKey: string, deps: PipelineDeps): Promise<void> {
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
  const result = await processObjectEvent(
    { eventName: 'ObjectCreated:PutObject', region: event.region, bucket: event.bucket, key: waiting.manifestKey },
    deps,
  );
  // kept until the manifest is through, so a retry of this disk's event wakes it again
  if (result.outcome === 'failed')
    throw new ManifestRetryError(`the waiting manifest ${waiting.manifestKey} failed: ${result.reason ?? ''}`);
  if (!deps.config.dryRun) await deps.store.delete(entryKey);
}

/** Thrown when a woken manifest failed transiently: the disk's event is retried, and wakes it again. */
export class ManifestRetryError extends Error {
  override name = 'ManifestRetryError';
}

async function clearWaiting(bucket: string, disks: string[], deps: PipelineDeps): Promise<void> {
  const layout = stateLayout(deps.config.statePrefix);
  for (const d of disks) await deps.store.delete(layout.waitingKey(bucket, d));
}
