import { OssCallError } from '../adapters/object-store';
import { realClock, type Clock } from '../core/clock';
import { outputKeyFor } from '../core/conversion';
import type { ObjectEvent } from '../core/event';
import { decodeMetaValue } from '../core/metadata';
import { isPermissionCode } from '../core/permission';
import { ConvertRefusal } from '../formats/refusal';
import { markRetrying, writeImporterTags } from '../lifecycle/object-tags';
import { claimConversion } from '../state/conversion-claim';
import { stateLayout, type StateLayout } from '../state/layout';
import { parseConversion, type ConversionRecord } from '../state/conversion-record';
import { TAG_STATUS } from '../core/tags';
import { firstLine, ResultLine, type Finished } from '../lifecycle/result-line';
import { runVersion, type VersionJob } from '../lifecycle/run-version';
import { ConversionSession } from './conversion-session';
import { convertSource } from './convert-source';
import { removeFanOutJob } from './fanout';
import { ConvertTimeout, type OpenUpload } from './convert-body';
import type { ConvertDeps } from './deps';

/**
 * One upload in another format to its qcow2, once per source version: the conversion job
 * behind the version door (`lifecycle/run-version.ts`). Claimed, it undoes what an earlier
 * attempt left, converts into a multipart upload, records and tags the outcome; the qcow2's
 * own upload event then imports it.
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

type Partial_ = Finished<ConvertResult>;

export function convertObjectEvent(event: ObjectEvent, given: ConvertDeps): Promise<ConvertResult> {
  const clock = given.clock ?? realClock;
  const deps = { ...given, clock };
  const layout = stateLayout(deps.config.statePrefix);
  const line = new ResultLine<ConvertResult>(firstLine(event, deps.requestId), clock, deps.log);
  return runVersion(event, conversionJob(event, deps, layout), { ...deps, layout }, line);
}

/** What a failure must undo: the claimed session, and the multipart upload open at the time. */
interface Run {
  session?: ConversionSession;
  open: OpenUpload;
}

/** The conversion's part of the door: read first (its claim names the output), then convert once. */
function conversionJob(
  given: ObjectEvent,
  deps: ConvertDeps & { clock: Clock },
  layout: StateLayout,
): VersionJob<ConvertResult, ConversionRecord> {
  const run: Run = { open: {} };
  // the key as it exists (an event's key may arrive URL-encoded)
  let event = given;
  return {
    name: 'conversion',
    kind: 'conversion',
    headBytes: 4096,
    headFirst: true,
    beforeClaim: async (read) => {
      event = { ...given, key: read.key };
      if (decodeMetaValue(read.head.meta['ens-import'] ?? '').toLowerCase() === 'skip')
        return { errorCode: 'ens-import-skip', reason: 'metadata ens-import: skip' };
      return undefined;
    },
    superseded: (read) => supersededVersion({ ...given, key: read.key }, deps, read.head.etag),
    claimOnce: (version) =>
      claimConversion(
        deps.store,
        layout,
        {
          version,
          outputKey: outputKeyFor(version.key, deps.config.outputTemplate),
          uploadRequestId: event.requestId,
          requestId: deps.requestId,
          deadline: deps.deadline,
          now: deps.clock.now(),
        },
        deps.deadline - deps.clock.now() + 60_000,
      ),
    duplicate: async ({ record: r }) => {
      // an attempt can end between its record and its tags: the record is the truth, said again
      await writeImporterTags(deps.store, deps.log, { key: event.key }, r.state, r.errorCode ? { error: r.errorCode } : {});
      // and between its record and the removal of its workers' folder
      if (deps.config.fanOut.minBytes > 0) await removeFanOutJob(deps, r);
      const reason = `this version was already ${r.state}${r.state === 'converted' ? ` to ${r.outputKey}` : ''}`;
      return { outcome: 'duplicate', errorCode: r.errorCode, outputKey: r.outputKey, outputEtag: r.outputEtag, reason };
    },
    work: async (claim, read) => {
      const head = read!.head;
      const session = new ConversionSession(claim.key, claim.record, { ...deps, layout });
      run.session = session;
      await deps.onStep?.('after-claim');
      await writeImporterTags(deps.store, deps.log, { key: event.key, tagCount: head.tagCount }, 'converting', {});
      await session.abortLeftovers();
      const done = await convertSource(head, session, deps, run.open);
      await writeImporterTags(deps.store, deps.log, { key: event.key }, 'converted', {});
      return { outcome: 'converted', etag: head.etag, size: head.size, ...done };
    },
    fail: (err) => failed(err, event, run.session, run.open, deps),
  };
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
    const result = await settle(err, event, session, stillOpen, deps);
    // a final outcome: the workers' folder is no use to anyone; a retry resumes from it
    if (open.fanOut && session && !result.retryable) await removeFanOutJob(deps, session.record);
    return result;
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
  // the source overwritten mid-way: a read's If-Match failed here, or in a fan-out worker
  const superseded =
    (err instanceof OssCallError && err.code === 'PreconditionFailed') || (err instanceof ConvertRefusal && err.code === 'superseded');
  if (superseded) {
    await session?.end('rejected', 'superseded', 'the source was overwritten while it was converted');
    await restoreCurrentTags(event, deps);
    return { errorCode: 'superseded', reason: "the source was overwritten while it was converted; the newer upload's event converts it" };
  }
  if (err instanceof ConvertRefusal) {
    await session?.end('rejected', err.code, message);
    await tag('rejected', err.code);
    return { outcome: 'rejected', errorCode: err.code, reason: message, outputKey: session?.record.outputKey };
  }
  if (err instanceof ConvertTimeout || (err instanceof OssCallError && isPermissionCode(err.code))) {
    const code = err.code;
    const action = err instanceof OssCallError ? err.action : undefined;
    const reason = action ? `${message} (the function's role lacks ${action}; grant it, then run ens-importer retry)` : message;
    await session?.end('failed', code, reason);
    await tag('failed', code);
    return { outcome: 'failed', errorCode: code, reason, missingAction: action, retryable: false };
  }
  const code = err instanceof OssCallError ? err.code : 'InternalError';
  await session?.release(`${code}: ${message}`, stillOpen);
  if (session) await markRetrying(deps.store, deps.log, event.key, code);
  return { outcome: 'failed', errorCode: code, reason: message, retryable: true };
}

/** A delivery for a version a newer upload replaced: its fan-out folder, if any, goes (this is its last chance), the current tags are said again. */
async function supersededVersion(event: ObjectEvent, deps: ConvertDeps, currentEtag: string): Promise<void> {
  if (deps.config.fanOut.minBytes > 0 && event.etag)
    await removeFanOutJob(deps, { bucket: event.bucket, key: event.key, etag: event.etag });
  await restoreCurrentTags(event, deps, currentEtag);
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
