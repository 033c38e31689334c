import { EnsCallError } from '../adapters/ens';
import { OssCallError, type ObjectHead } from '../adapters/object-store';
import { realClock, type Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import { isManifestKey } from '../core/manifest';
import { isPermissionCode } from '../core/permission';
import { markRetrying, writeImporterTags } from '../lifecycle/object-tags';
import type { ObjectResult } from '../core/outcome';
import { claimForEvent } from './claim-wait';
import type { PipelineDeps } from './deps';

export type { PipelineDeps } from './deps';
import { stateLayout, type StateLayout } from '../state/layout';
import type { ImportRecord } from '../state/records';
import { ImportSession } from './import-session';
import { clearWaiting, ManifestRetryError, wakeWaitingManifest } from './manifest-waiting';
import { readCurrentHead, type HeadStep } from '../lifecycle/object-head';
import { firstLine, ResultLine, type Finished as LineFinished } from '../lifecycle/result-line';
import { runVersion, type ReadObject, type VersionClaim, type VersionJob } from '../lifecycle/run-version';
import { duplicateOf } from './duplicate';
import { handToConverter } from './hand-off';
import { sourceOf } from '../core/conversion';
import { chooseImageName } from './image-name-choice';
import { manifestTarget, objectTarget, type ImportTarget, type Target } from './targets';

/**
 * One upload's import: the import job behind the version door (`lifecycle/run-version.ts`),
 * which owns the order of the steps every job shares. Each step here is idempotent: whatever
 * a crash interrupts, the next delivery (or the tracker) finishes from what is durably written.
 */

type Finished = LineFinished<ObjectResult>;

const OBJECT_MISSING: Finished = {
  outcome: 'rejected',
  errorCode: 'object-missing',
  reason: 'the object no longer exists (deleted or renamed after the upload)',
};

/** What one import knows as it goes: the door's line, the claimed session. */
class ObjectRun {
  readonly clock: Clock;
  readonly layout: StateLayout;
  readonly result: ObjectResult;
  session?: ImportSession;
  /** the claim as taken: what earlier attempts left (evidence of a send) */
  claimed?: ImportRecord;

  constructor(
    readonly event: ObjectEvent,
    readonly deps: PipelineDeps,
  ) {
    this.clock = deps.clock ?? realClock;
    this.layout = stateLayout(deps.config.statePrefix);
    this.result = { ...firstLine(event, deps.requestId), attempts: 0, ...(deps.config.dryRun ? { dryRun: true } : {}) };
  }
}

export function processObjectEvent(event: ObjectEvent, deps: PipelineDeps): Promise<ObjectResult> {
  const run = new ObjectRun(event, deps);
  const line = new ResultLine(run.result, run.clock, deps.log);
  const door = { ...deps, clock: run.clock, layout: run.layout, dryRun: deps.config.dryRun };
  return runVersion(event, importJob(run), door, line);
}

/** The import's part of the door: its claim, its duplicate, its work and its failures. */
function importJob(run: ObjectRun): VersionJob<ObjectResult, ImportRecord> {
  const { event, deps } = run;
  return {
    name: 'import',
    kind: 'import',
    headBytes: deps.config.headerBytes,
    headFirst: false,
    dryRun: (read) => dryRun(run, read),
    claimOnce: (version) => claimForEvent(deps, run.layout, run.clock, event, version),
    duplicate: (claim) => duplicateOf(claim.record, claim.newUpload ?? false, deps),
    work: async (claim, read) => {
      noteTakeover(run, claim);
      run.claimed = claim.record;
      run.session = new ImportSession(claim.key, claim.record, { ...deps, layout: run.layout, clock: run.clock });
      await deps.onStep?.('after-claim');
      return importClaimed(run, run.session, read);
    },
    fail: (err) => failedRun(run, err),
  };
}

function noteTakeover(run: ObjectRun, claim: Extract<VersionClaim<ImportRecord>, { kind: 'claimed' }>): void {
  const { event, deps, result } = run;
  if (claim.previous)
    deps.log.warn({
      event: 'claim-taken-over',
      bucket: event.bucket,
      key: result.key,
      previousHolder: claim.previous.requestId,
      sentSince: claim.record.sentSince,
    });
  if (claim.invalidPrevious)
    deps.log.warn({
      event: 'state-object-invalid',
      key: claim.key,
      asideKey: run.layout.asideKey(claim.key, claim.record.generation),
      reason: 'the claim object did not parse as an import record; set aside, and ENS is searched before any import',
    });
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
  if (run.session) await markRetrying(run.deps.store, run.deps.log, run.result.key, code, run.session.imageId);
  return { outcome: 'failed', errorCode: code, reason: message, attempts, retryable: true };
}

/** The claimed version: read it, decide, import once, make it durable. */
async function importClaimed(run: ObjectRun, session: ImportSession, known: ReadObject | undefined): Promise<Finished> {
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
  const taken = await uniqueName(run, session, target);
  if (taken) return taken;
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

/**
 * `names: unique` (the default): a name another key's image holds is suffixed with a short stable
 * tag of the key, or, given in metadata or a manifest, refused (image-name-taken).
 */
async function uniqueName(run: ObjectRun, session: ImportSession, target: ImportTarget): Promise<Finished | undefined> {
  const { deps, event, result } = run;
  if (deps.config.rules.names === 'allow-duplicates') return undefined;
  const choice = await chooseImageName(target, run.claimed!, {
    ...deps,
    layout: run.layout,
    clock: run.clock,
    claimKey: session.claimKey,
    ensTimeoutMs: deps.config.ensTimeoutMs,
  });
  const name = target.params.ImageName!;
  if (choice.kind === 'keep') return undefined;
  if (choice.kind === 'taken') {
    const reason = `ImageName "${name}" is held by image ${choice.heldBy}, which this key did not make; choose another name, or set names: allow-duplicates in importer.yaml`;
    await session.reject(target, 'image-name-taken', reason);
    return { outcome: 'rejected', errorCode: 'image-name-taken', reason, details: target.details };
  }
  target.params.ImageName = choice.name;
  target.details.params.ImageName = { ...target.details.params.ImageName!, value: choice.name, original: name };
  result.imageName = choice.name;
  const reason = `image ${choice.heldBy} of another key holds "${name}"`;
  deps.log.info({ event: 'image-name-unique', bucket: event.bucket, key: result.key, from: name, to: choice.name, reason });
  return undefined;
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
