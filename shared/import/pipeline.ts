import { EnsCallError } from '../adapters/ens';
import { OssCallError, type ObjectHead } from '../adapters/object-store';
import { realClock, type Clock } from '../core/clock';
import { isImportable, type ObjectEvent } from '../core/event';
import { isManifestKey } from '../core/manifest';
import { isPermissionCode } from '../core/permission';
import { markRetrying, writeImporterTags } from '../lifecycle/object-tags';
import type { ObjectResult } from '../core/outcome';
import { claimOrWait } from './claim-wait';
import type { PipelineDeps } from './deps';

export type { PipelineDeps } from './deps';
import { stateLayout, type StateLayout } from '../state/layout';
import type { ImportRecord } from '../state/records';
import { ImportSession } from './import-session';
import { clearWaiting, ManifestRetryError, wakeWaitingManifest } from './manifest-waiting';
import { bucketVersioning, mayBeEncoded, readCurrentHead, type HeadStep } from '../lifecycle/object-head';
import { duplicateOf } from './duplicate';
import { handToConverter } from './hand-off';
import { sourceOf } from '../core/conversion';
import { manifestTarget, objectTarget, type Target } from './targets';

/**
 * One upload's path, top to bottom. Each step is named and idempotent: whatever a crash
 * interrupts, the next delivery (or the tracker) finishes from what is durably written.
 */

type Finished = Partial<ObjectResult> & { details?: object };

const OBJECT_MISSING: Finished = {
  outcome: 'rejected',
  errorCode: 'object-missing',
  reason: 'the object no longer exists (deleted or renamed after the upload)',
};

/** The result of one object, logged once when it is finished. */
class ObjectRun {
  readonly clock: Clock;
  readonly layout: StateLayout;
  readonly result: ObjectResult;
  session?: ImportSession;
  private readonly started: number;

  constructor(
    readonly event: ObjectEvent,
    readonly deps: PipelineDeps,
  ) {
    this.clock = deps.clock ?? realClock;
    this.layout = stateLayout(deps.config.statePrefix);
    this.started = this.clock.now();
    this.result = {
      outcome: 'skipped',
      bucket: event.bucket,
      key: event.key,
      etag: event.etag,
      size: event.size,
      requestId: deps.requestId,
      attempts: 0,
      durationMs: 0,
    };
  }

  finish({ details, ...r }: Finished): ObjectResult {
    Object.assign(this.result, r, { durationMs: this.clock.now() - this.started });
    if (this.deps.config.dryRun) this.result.dryRun = true;
    const level = this.result.outcome === 'failed' ? 'error' : this.result.outcome === 'rejected' ? 'warn' : 'info';
    this.deps.log[level]({ ...this.result, ...details });
    return this.result;
  }
}

export async function processObjectEvent(event: ObjectEvent, deps: PipelineDeps): Promise<ObjectResult> {
  const run = new ObjectRun(event, deps);
  const screened = screenEvent(event, run.layout);
  if (screened) return run.finish(screened);
  try {
    const versioning = await bucketVersioning(deps.store, run.clock.now());
    if (versioning) {
      await writeImporterTags(deps.store, deps.log, { key: event.key }, 'failed', { error: 'bucket-versioning' }).catch(() => undefined);
      return run.finish(versionedBucket(event.bucket, versioning));
    }
    // Claim first, on the event's ETag: a redelivery ends there in two requests. A key that
    // may arrive URL-encoded, or an event without an ETag, is read first to learn both.
    const read = !event.etag || mayBeEncoded(event.key) ? await readCurrentHead(deps.store, event.key, deps.config.headerBytes) : undefined;
    if (read?.kind === 'gone') return run.finish(OBJECT_MISSING);
    if (read) run.result.key = read.key;
    run.result.etag = event.etag ?? (read?.kind === 'read' ? read.head.etag : '');
    if (deps.config.dryRun) return run.finish(await dryRun(run, read));
    const claim = await claimOrWait(deps, run.layout, run.clock, event, {
      bucket: event.bucket,
      key: run.result.key,
      etag: run.result.etag!,
      size: event.size,
    });
    if (claim.kind === 'held') return run.finish(claimBusy(claim.record));
    if (claim.kind === 'done') return run.finish(await duplicateOf(claim.record, claim.newUpload, deps));
    if (claim.previous)
      deps.log.warn({
        event: 'claim-taken-over',
        bucket: event.bucket,
        key: run.result.key,
        previousHolder: claim.previous.requestId,
        sentSince: claim.record.sentSince,
      });
    if (claim.invalidPrevious)
      deps.log.warn({
        event: 'state-object-invalid',
        key: claim.key,
        reason: 'the claim object did not parse as an import record; replaced',
      });
    run.session = new ImportSession(claim.key, claim.record, { ...deps, layout: run.layout, clock: run.clock });
    await deps.onStep?.('after-claim');
    return run.finish(await importClaimed(run, run.session, read));
  } catch (err) {
    return run.finish(await failedRun(run, err));
  }
}

/**
 * A RAM refusal ends as `failed` now (an operator fixes the policy, then `ens-importer
 * retry`); anything else is left to FC's retry, the object tagged `retrying` meanwhile.
 */
async function failedRun(run: ObjectRun, err: unknown): Promise<Finished> {
  const code =
    err instanceof EnsCallError || err instanceof OssCallError
      ? err.code
      : err instanceof ManifestRetryError
        ? 'manifest-retry'
        : 'InternalError';
  const message = err instanceof Error ? err.message : String(err);
  const attempts = run.session?.attempts ?? 0;
  const action = err instanceof EnsCallError || err instanceof OssCallError ? err.action : undefined;
  if (isPermissionCode(code)) {
    const reason = `${message} (the function's role lacks ${action ?? 'a permission'}; grant it, then run ens-importer retry)`;
    if (run.session) await run.session.fail([{ key: run.result.key }], code, reason).catch(() => run.session?.release(code));
    else await writeImporterTags(run.deps.store, run.deps.log, { key: run.result.key }, 'failed', { error: code }).catch(() => undefined);
    return { outcome: 'failed', errorCode: code, reason, missingAction: action, attempts, retryable: false };
  }
  await run.session?.release(`${code}: ${message}`);
  if (run.session) await markRetrying(run.deps.store, run.deps.log, run.result.key, code);
  return { outcome: 'failed', errorCode: code, reason: message, attempts, retryable: true };
}

/** The event's kind, and never the importer's own state. */
function screenEvent(event: ObjectEvent, layout: StateLayout): Finished | undefined {
  if (!isImportable(event.eventName)) return { errorCode: 'event-kind', reason: `${event.eventName} does not complete an upload` };
  if (layout.isStateKey(event.key))
    return { errorCode: 'state-object', reason: `keys under ${layout.prefix} are the importer's own state` };
  return undefined;
}

const versionedBucket = (bucket: string, versioning: string): Finished => ({
  outcome: 'failed',
  errorCode: 'bucket-versioning',
  reason: `bucket ${bucket} has versioning ${versioning}: OSS ignores x-oss-forbid-overwrite there, so the importer cannot guarantee one import per upload; use a bucket that never had versioning`,
});

const claimBusy = (holder: ImportRecord | undefined): Finished => ({
  outcome: 'failed',
  retryable: true,
  errorCode: 'claim-busy',
  reason: `another invocation (${holder?.requestId ?? 'unknown'}) holds this version until ${holder?.claimDeadline ?? 'soon'}; FC's retry will find it finished or free`,
});

/** The claimed version: read it, decide, import once, make it durable. */
async function importClaimed(run: ObjectRun, session: ImportSession, known: HeadStep | undefined): Promise<Finished> {
  const { event, deps, result } = run;
  const read = known ?? (await readCurrentHead(deps.store, result.key, deps.config.headerBytes));
  if (read.kind === 'gone') {
    await session.release('object-missing');
    return OBJECT_MISSING;
  }
  result.size = read.head.size;
  if (read.head.etag !== result.etag) {
    await session.release('superseded');
    return {
      errorCode: 'superseded',
      reason: `the object was overwritten (ETag now ${read.head.etag}); the newer upload's event imports it`,
    };
  }
  const from = sourceOf(read.head.meta);
  if (from) session.linkSource(from);
  const target = await resolveTarget(run, read);
  if (target.kind === 'skip') {
    await session.release(target.errorCode);
    if (!isManifestKey(read.key)) await wakeWaitingManifest(event, read.key, deps, processObjectEvent);
    return { errorCode: target.errorCode, reason: target.reason };
  }
  if (target.kind === 'convert') return handToConverter(event, read.key, read.head.etag, read.head.size, target.format, session, deps);
  result.imageName = target.kind === 'import' ? target.params.ImageName : target.imageName;
  if (target.kind === 'reject') {
    const reason = target.problems.map((p) => p.message).join('; ');
    await session.reject(target, target.problems[0]!.code, reason);
    if (target.disks) await clearWaiting(event.bucket, read.key, target.disks, deps);
    return { outcome: 'rejected', errorCode: target.problems[0]!.code, reason, details: target.details };
  }
  for (const fix of target.nameFixes)
    deps.log.info({ event: 'image-name-fixed', bucket: event.bucket, key: read.key, from: fix.original, to: fix.fixed });
  warnSnapshots(run, read.key, target.details.inspection);
  const imported = await session.importOnce(target);
  result.attempts = imported.attempts;
  if (imported.kind === 'refused' && isPermissionCode(imported.error.code)) throw imported.error;
  if (imported.kind === 'refused') {
    const e = imported.error;
    await session.reject(target, e.code, `ImportImage refused: ${e.message}`, e.requestId);
    return {
      outcome: 'rejected',
      errorCode: e.code,
      reason: `ImportImage refused: ${e.message}`,
      ensRequestId: e.requestId,
      details: target.details,
    };
  }
  if (imported.ensRequestId) result.ensRequestId = imported.ensRequestId;
  await session.complete(target, imported);
  if (target.disks) await clearWaiting(event.bucket, read.key, target.disks, deps);
  return { outcome: 'imported', imageId: imported.imageId, details: target.details };
}

/** Internal snapshots are imported (ENS takes the current state), but an operator should know. */
function warnSnapshots(run: ObjectRun, key: string, inspection: object): void {
  const snapshots = (inspection as { snapshots?: number }).snapshots;
  if (snapshots) {
    const reason = `the image holds ${snapshots} internal snapshot(s); ENS imports the current state only`;
    run.deps.log.warn({ event: 'qcow2-snapshots', bucket: run.event.bucket, key, snapshots, reason });
  }
}

function resolveTarget(run: ObjectRun, read: { key: string; head: ObjectHead }): Promise<Target> | Target {
  const { event, deps } = run;
  const input = { region: event.region, bucket: event.bucket, key: read.key, head: read.head };
  return isManifestKey(read.key)
    ? manifestTarget(input, deps.config, deps.store, run.layout, run.clock.now())
    : objectTarget(input, deps.config);
}

async function dryRun(run: ObjectRun, known: HeadStep | undefined): Promise<Finished> {
  const read = known ?? (await readCurrentHead(run.deps.store, run.result.key, run.deps.config.headerBytes));
  if (read.kind === 'gone') return OBJECT_MISSING;
  const target = await resolveTarget(run, read);
  if (target.kind === 'skip') return { errorCode: target.errorCode, reason: target.reason };
  if (target.kind === 'convert')
    return { errorCode: 'dry-run', reason: `IMPORTER_DRY_RUN=true: would hand this ${target.format} disk to the converter` };
  if (target.kind === 'reject')
    return { outcome: 'rejected', errorCode: target.problems[0]!.code, reason: target.problems.map((p) => p.message).join('; ') };
  return { imageName: target.params.ImageName, errorCode: 'dry-run', reason: 'IMPORTER_DRY_RUN=true: would import' };
}
