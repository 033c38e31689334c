import { OssCallError, type ObjectHead } from '../adapters/object-store';
import { realClock, type Clock } from '../core/clock';
import { outputKeyFor } from '../core/conversion';
import { isImportable, type ObjectEvent } from '../core/event';
import { decodeMetaValue } from '../core/metadata';
import { isPermissionCode } from '../core/permission';
import { ConvertRefusal } from '../formats/refusal';
import { markRetrying, writeImporterTags } from '../lifecycle/object-tags';
import { claimWaitingOut } from '../state/claim';
import { claimConversion, type ConversionClaim } from '../state/conversion-claim';
import { stateLayout } from '../state/layout';
import { parseConversion } from '../state/conversion-record';
import { TAG_STATUS } from '../core/tags';
import { bucketVersioning, readCurrentHead } from '../lifecycle/object-head';
import { ConversionSession } from './conversion-session';
import { convertSource } from './convert-source';
import { ConvertTimeout, type OpenUpload } from './convert-body';
import type { ConvertDeps } from './deps';

/**
 * One upload in another format to its qcow2, once per source version: claim it, undo what an
 * earlier attempt left, convert into a multipart upload, record and tag the outcome. The
 * qcow2's own upload event then imports it.
 */

export type ConvertOutcome = 'converted' | 'duplicate' | 'skipped' | 'rejected' | 'failed';

export interface ConvertResult {
  outcome: ConvertOutcome;
  bucket: string;
  key: string;
  etag?: string;
  size?: number;
  format?: string;
  outputKey?: string;
  outputEtag?: string;
  virtualSize?: number;
  outputBytes?: number;
  parts?: number;
  sourceRequests?: number;
  errorCode?: string;
  reason?: string;
  missingAction?: string;
  retryable?: boolean;
  requestId: string;
  durationMs: number;
}

type Partial_ = Omit<Partial<ConvertResult>, 'bucket' | 'key' | 'requestId' | 'durationMs'>;

export async function convertObjectEvent(event: ObjectEvent, given: ConvertDeps): Promise<ConvertResult> {
  const clock = given.clock ?? realClock;
  const deps = { ...given, clock };
  const started = clock.now();
  const base = { bucket: event.bucket, key: event.key, etag: event.etag, size: event.size, requestId: deps.requestId };
  const finish = (r: Partial_): ConvertResult => {
    const result: ConvertResult = { outcome: 'skipped', ...base, ...r, durationMs: clock.now() - started };
    const level = result.outcome === 'failed' ? 'error' : result.outcome === 'rejected' ? 'warn' : 'info';
    deps.log[level]({ ...result });
    return result;
  };
  const layout = stateLayout(deps.config.statePrefix);
  if (!isImportable(event.eventName)) return finish({ errorCode: 'event-kind', reason: `${event.eventName} does not complete an upload` });
  if (layout.isStateKey(event.key))
    return finish({ errorCode: 'state-object', reason: `keys under ${layout.prefix} are the importer's own state` });
  const run: Run = { open: {} };
  try {
    return finish(await convertEvent(event, deps, run));
  } catch (err) {
    return finish(await failed(err, event, run.session, run.open, deps));
  }
}

/** What a failure must undo: the claimed session, and the multipart upload open at the time. */
interface Run {
  session?: ConversionSession;
  open: OpenUpload;
}

async function convertEvent(given: ObjectEvent, deps: ConvertDeps & { clock: Clock }, run: Run): Promise<Partial_> {
  // an event's key may arrive URL-encoded: the object that exists is the one converted
  const read = await readCurrentHead(deps.store, given.key, 4096);
  if (read.kind === 'gone')
    return {
      outcome: 'rejected',
      errorCode: 'object-missing',
      reason: 'the object no longer exists (deleted or renamed after the upload)',
    };
  const { head } = read;
  const event = { ...given, key: read.key };
  if (event.etag && head.etag !== event.etag) {
    await restoreCurrentTags(event, deps, head.etag);
    return { errorCode: 'superseded', reason: `the object was overwritten (ETag now ${head.etag}); the newer upload's event converts it` };
  }
  if (decodeMetaValue(head.meta['ens-import'] ?? '').toLowerCase() === 'skip')
    return { errorCode: 'ens-import-skip', reason: 'metadata ens-import: skip' };
  const versioning = await bucketVersioning(deps.store, deps.clock.now());
  if (versioning)
    return {
      outcome: 'failed',
      errorCode: 'bucket-versioning',
      reason: `bucket ${event.bucket} has versioning ${versioning}: OSS ignores x-oss-forbid-overwrite there, so no conversion can be claimed once`,
    };
  const claim = await claimOrWait(event, head, deps, deps.clock);
  if (claim.kind === 'held')
    return {
      outcome: 'failed',
      retryable: true,
      errorCode: 'claim-busy',
      reason: `another invocation (${claim.record?.requestId ?? 'unknown'}) is converting this version; FC's retry will find it finished or free`,
    };
  if (claim.kind === 'done') {
    const r = claim.record;
    // an attempt can end between its record and its tags: the record is the truth, said again
    const error = r.errorCode ? { error: r.errorCode } : {};
    await writeImporterTags(deps.store, deps.log, { key: event.key, tagCount: head.tagCount }, r.state, error);
    const reason = `this version was already ${r.state}${r.state === 'converted' ? ` to ${r.outputKey}` : ''}`;
    return { outcome: 'duplicate', errorCode: r.errorCode, outputKey: r.outputKey, outputEtag: r.outputEtag, reason };
  }
  const session = new ConversionSession(claim.key, claim.record, { ...deps, layout: stateLayout(deps.config.statePrefix) });
  run.session = session;
  await deps.onStep?.('after-claim');
  await writeImporterTags(deps.store, deps.log, { key: event.key, tagCount: head.tagCount }, 'converting', {});
  await session.abortLeftovers();
  const done = await convertSource(head, session, deps, run.open);
  await writeImporterTags(deps.store, deps.log, { key: event.key }, 'converted', {});
  return { outcome: 'converted', etag: head.etag, size: head.size, ...done };
}

async function claimOrWait(event: ObjectEvent, head: ObjectHead, deps: ConvertDeps, clock: Clock): Promise<ConversionClaim> {
  const layout = stateLayout(deps.config.statePrefix);
  const once = () =>
    claimConversion(
      deps.store,
      layout,
      {
        version: { bucket: event.bucket, key: event.key, etag: head.etag, size: head.size },
        outputKey: outputKeyFor(event.key, deps.config.outputTemplate),
        uploadRequestId: event.requestId,
        requestId: deps.requestId,
        deadline: deps.deadline,
        now: clock.now(),
      },
      deps.deadline - clock.now() + 60_000,
    );
  // a live claim is a concurrent delivery: wait it out, as the import does
  return claimWaitingOut(once, clock, deps.deadline);
}

/** What ended a conversion early: said on the record and the object, the open upload aborted. */
async function failed(
  err: unknown,
  event: ObjectEvent,
  session: ConversionSession | undefined,
  open: OpenUpload,
  deps: ConvertDeps,
): Promise<Partial_> {
  const stillOpen = await closeUploads(session, open, deps);
  try {
    return await settle(err, event, session, stillOpen, deps);
  } catch (writeErr) {
    // the outcome could not be written (OSS failing): FC's retry decides again; a record already
    // final stays so, and the retry's duplicate path writes its tags
    const code = writeErr instanceof OssCallError ? writeErr.code : 'InternalError';
    const reason = `the outcome could not be written: ${(writeErr as Error).message}`;
    if (session?.record.state === 'converting') await session.release(`${code}: ${reason}`, stillOpen);
    return { outcome: 'failed', errorCode: code, reason, retryable: true };
  }
}

/** The open upload aborted, and any a lost initiate answer began; the id still open if the abort failed. */
async function closeUploads(session: ConversionSession | undefined, open: OpenUpload, deps: ConvertDeps): Promise<string | undefined> {
  if (!session) return undefined;
  const key = open.uploadKey ?? session.record.outputKey;
  const aborted = open.uploadId
    ? await deps.transfer.abort(key, open.uploadId).then(
        () => true,
        () => false,
      )
    : true;
  const stillOpen = aborted ? undefined : open.uploadId;
  if (open.initiating) await session.abortStrays(key, [open.initiating[0], open.initiating[1] || deps.clock!.now()], stillOpen);
  return stillOpen;
}

async function settle(
  err: unknown,
  event: ObjectEvent,
  session: ConversionSession | undefined,
  stillOpen: string | undefined,
  deps: ConvertDeps,
): Promise<Partial_> {
  const message = err instanceof Error ? err.message : String(err);
  const tag = (status: 'rejected' | 'failed', code: string) =>
    writeImporterTags(deps.store, deps.log, { key: event.key }, status, { error: code });
  if (err instanceof ConvertRefusal) {
    await session?.end('rejected', err.code, message);
    await tag('rejected', err.code);
    return { outcome: 'rejected', errorCode: err.code, reason: message, outputKey: session?.record.outputKey };
  }
  if (err instanceof ConvertTimeout || (err instanceof OssCallError && isPermissionCode(err.code))) {
    const code = err instanceof OssCallError ? err.code : 'convert-timeout';
    const action = err instanceof OssCallError ? err.action : undefined;
    const reason = action ? `${message} (the function's role lacks ${action}; grant it, then run ens-importer retry)` : message;
    await session?.end('failed', code, reason);
    await tag('failed', code);
    return { outcome: 'failed', errorCode: code, reason, missingAction: action, retryable: false };
  }
  if (err instanceof OssCallError && err.code === 'PreconditionFailed') {
    await session?.end('rejected', 'superseded', 'the source was overwritten while it was converted');
    await restoreCurrentTags(event, deps);
    return { errorCode: 'superseded', reason: "the source was overwritten while it was converted; the newer upload's event converts it" };
  }
  const code = err instanceof OssCallError ? err.code : 'InternalError';
  await session?.release(`${code}: ${message}`, stillOpen);
  if (session) await markRetrying(deps.store, deps.log, event.key, code);
  return { outcome: 'failed', errorCode: code, reason: message, retryable: true };
}

/**
 * An older version's attempt may have tagged the key `converting` after the current version's
 * conversion had finished: the current version's record, when final, says it again.
 */
async function restoreCurrentTags(event: ObjectEvent, deps: ConvertDeps, knownEtag?: string): Promise<void> {
  const etag = knownEtag ?? (await deps.store.head(event.key))?.etag;
  if (!etag) return;
  const current = parseConversion(
    await deps.store.getText(stateLayout(deps.config.statePrefix).conversionKey(event.bucket, event.key, etag)),
  );
  if (!current || current.state === 'converting') return;
  const tags = (await deps.store.getTags(event.key)) ?? {};
  if (tags[TAG_STATUS] !== current.state)
    await writeImporterTags(deps.store, deps.log, { key: event.key }, current.state, current.errorCode ? { error: current.errorCode } : {});
}
