import { EnsCallError, type EnsApi } from './adapters/ens';
import { OssCallError, type HeadRead, type ObjectStore } from './adapters/oss';
import { ClaimBusy, claim, claimKey, pendingKey, type ImportRecord } from './claims';
import type { ImporterConfig } from './config';
import { isImportable, type ObjectEvent } from './event';
import type { Logger } from './logger';
import { decodeUserMeta } from './metadata';
import type { ObjectResult } from './outcome';
import { inspectionLimits, planImport } from './plan';
import { isManifestKey, planManifest } from './manifest';
import { createHash } from 'node:crypto';
import type { ProvenancedValue } from './import-params';
import { inspectQcow2, summarizeInspection } from './qcow2';
import { RetriesExhausted, retryTransient } from './retry';
import { TAG_ERROR, TAG_IMAGE_ID, TAG_STATUS, mergeTags, type ImportStatus } from './tags';

/**
 * One upload's path, top to bottom: read the head of the object, derive and check the
 * parameters, inspect the qcow2 header, claim, import, record. Every step that talks to
 * the cloud goes through the adapters passed in.
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
  /** how long an invocation may hold a claim before it counts as crashed */
  claimTtlMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Test seam: die at this point as a killed instance would, leaving everything as it is. */
  crashAt?: 'after-claim' | 'after-import' | 'after-tags';
}

/** Thrown by the crash seam; nothing is cleaned up after it. */
export class SimulatedCrash extends Error {}

const isTransientEns = (err: unknown): boolean => err instanceof EnsCallError && err.transient;

function safeDecodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

export async function processObjectEvent(event: ObjectEvent, deps: PipelineDeps): Promise<ObjectResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  const { config, store } = deps;
  let key = event.key;
  const result: ObjectResult = {
    outcome: 'skipped',
    bucket: event.bucket,
    key,
    etag: event.etag,
    size: event.size,
    requestId: deps.requestId,
    attempts: 0,
    durationMs: 0,
  };
  const finish = (r: Partial<ObjectResult>, extra: Record<string, unknown> = {}): ObjectResult => {
    Object.assign(result, r, { key, durationMs: now() - started });
    if (config.dryRun) result.dryRun = true;
    const level = result.outcome === 'failed' ? 'error' : result.outcome === 'rejected' ? 'warn' : 'info';
    deps.log[level]({ ...result, ...extra });
    return result;
  };

  if (!isImportable(event.eventName)) {
    return finish({ outcome: 'skipped', errorCode: 'event-kind', reason: `${event.eventName} does not complete an upload` });
  }
  if (key.startsWith(config.statePrefix)) {
    return finish({ outcome: 'skipped', errorCode: 'state-object', reason: `keys under ${config.statePrefix} are the importer's own state` });
  }

  let claimedKey: string | undefined;
  let claimRecord: ImportRecord | undefined;
  // an ImportImage may have reached ENS without an answer: the next attempt must look first
  let possiblySent = false;
  try {
    // 1. One ranged read: metadata, tag count, current ETag and the header bytes.
    let head = await store.readHead(key, config.headerBytes);
    if (!head && /[%+]/.test(key)) {
      const decoded = safeDecodeKey(key);
      if (decoded !== key) {
        head = await store.readHead(decoded, config.headerBytes);
        if (head) key = decoded;
      }
    }
    if (!head) {
      return finish({ outcome: 'rejected', errorCode: 'object-missing', reason: 'the object no longer exists (deleted or renamed after the upload)' });
    }
    result.size = head.size;
    const etag = event.etag ?? head.etag;
    result.etag = etag;
    if (head.etag !== etag) {
      return finish({ outcome: 'skipped', errorCode: 'superseded', reason: `the object was overwritten (ETag now ${head.etag}); the newer upload's event imports it` });
    }
    // 2. What to import, with every parameter's provenance: this object, or the disks a
    //    manifest lists.
    const target = isManifestKey(key)
      ? await manifestTarget(event, key, head, deps, now)
      : objectTarget(event, key, head, config);
    if (target.kind === 'skip') {
      // a disk kept from being imported alone may be what a waiting manifest needs
      if (!isManifestKey(key)) await wakeWaitingManifest(event, key, deps);
      return finish({ outcome: 'skipped', errorCode: target.errorCode, reason: target.reason });
    }
    const { params, details, problems, tagged } = target;
    result.imageName = params.ImageName;
    for (const fix of target.nameFixes) {
      deps.log.info({ event: 'image-name-fixed', bucket: event.bucket, key, from: fix.original, to: fix.fixed });
    }

    const writeTags = async (status: ImportStatus, extra: { imageId?: string; error?: string }): Promise<void> => {
      for (const t of tagged) {
        const current = t.tagCount > 0 ? ((await store.getTags(t.key)) ?? {}) : {};
        const merged = mergeTags(current, {
          [TAG_IMAGE_ID]: extra.imageId,
          [TAG_STATUS]: status,
          [TAG_ERROR]: extra.error,
        });
        if (merged.left.length) {
          deps.log.warn({ event: 'tags-full', bucket: event.bucket, key: t.key, notWritten: merged.left, reason: 'the object already has 10 tags; the import record holds the result' });
        }
        if (!(await store.putTags(t.key, merged.tags))) {
          deps.log.warn({ event: 'object-gone', bucket: event.bucket, key: t.key, reason: 'the object was deleted before its tags could be written' });
        }
      }
    };

    if (problems.length) {
      const reason = problems.map((p) => p.message).join('; ');
      if (!config.dryRun) await writeTags('rejected', { error: problems[0]!.code });
      if (!config.dryRun && target.disks) await clearWaiting(event.bucket, target.disks, deps);
      return finish({ outcome: 'rejected', errorCode: problems[0]!.code, reason }, details);
    }
    if (config.dryRun) {
      return finish({ outcome: 'skipped', errorCode: 'dry-run', reason: 'IMPORTER_DRY_RUN=true: would import' }, details);
    }

    // 3. Exactly once per (bucket, key, ETag).
    const at = new Date(now()).toISOString();
    const fresh: ImportRecord = {
      state: 'claimed',
      bucket: event.bucket,
      key,
      etag,
      size: head.size,
      generation: 0,
      claimedAt: at,
      claimDeadline: new Date(now() + deps.claimTtlMs).toISOString(),
      requestId: deps.requestId,
      imageName: params.ImageName,
      ...(target.disks ? { disks: target.disks } : {}),
    };
    const recordKey = claimKey(config.statePrefix, event.bucket, key, etag);
    const claimed = await claim(store, recordKey, fresh, { now, deadline: deps.deadline, sleep });
    if (claimed.kind === 'done') {
      const r = claimed.record;
      // A record written before its tags (crash in between): put the tags back.
      if (head.tagCount === 0 && r.imageId) await writeTags(r.state === 'claimed' || r.state === 'rejected' ? 'importing' : r.state, { imageId: r.imageId, error: r.errorCode });
      return finish({ outcome: 'duplicate', imageId: r.imageId, errorCode: r.errorCode, reason: `already ${r.state} for this ETag (claimed ${r.claimedAt} by ${r.requestId ?? 'unknown'})` });
    }
    claimedKey = recordKey;
    let record = claimed.record;
    claimRecord = record;

    if (deps.crashAt === 'after-claim') throw new SimulatedCrash('crash after the claim');

    // 4. ENS has no idempotency token. When an earlier attempt may have reached ENS (a
    //    crashed claim holder, or a timeout, reset or 5xx whose outcome is unknown), look
    //    for the image it would have made before calling ImportImage again.
    const adoptable = async (sinceMs: number, msLeft: number): Promise<string | undefined> => {
      const found = await deps.ens.describeSelfImages({ ImageName: params.ImageName, PageSize: 50 }, Math.max(1, Math.min(msLeft, config.ensTimeoutMs)));
      const match = found.images
        .filter((i) => i.ImageName === params.ImageName && (!i.CreationTime || Date.parse(i.CreationTime) >= sinceMs))
        .sort((a, b) => String(b.CreationTime).localeCompare(String(a.CreationTime)))[0];
      return match?.ImageId;
    };
    let imageId: string | undefined;
    let adopted = false;
    const adopt = (id: string | undefined, why: string): boolean => {
      if (!id) return false;
      imageId = id;
      adopted = true;
      deps.log.warn({ event: 'image-adopted', bucket: event.bucket, key, imageId: id, reason: why });
      return true;
    };
    if (claimed.kind === 'taken-over') {
      const found = await retryTransient((_a, msLeft) => adoptable(Date.parse(claimed.stale.claimedAt) - 60_000, msLeft), isTransientEns, { deadline: deps.deadline, now, sleep, random: deps.random });
      adopt(found.value, 'a crashed attempt had already imported this object');
    }

    // 5. ImportImage, retrying transient failures while time remains.
    if (!imageId) {
      // An ImportImage that failed after it may have reached ENS: when it was answered (5xx,
      // a gateway page) look once; when no answer came (timeout, reset) the request may still
      // be running inside ENS, so give it time to show before importing again.
      let uncertain: { at: number; answered: boolean; error: EnsCallError } | undefined;
      const since = Date.parse(record.claimedAt) - 60_000;
      try {
        const { value, attempts } = await retryTransient(
          async (_attempt, msLeft) => {
            if (uncertain) {
              let found = await adoptable(since, msLeft);
              const settleUntil = uncertain.at + 2 * config.ensTimeoutMs;
              if (!found && !uncertain.answered && now() < settleUntil) {
                if (settleUntil >= deps.deadline) {
                  const e = uncertain.error;
                  throw new EnsCallError(e.code, `${e.message} (no time left to check whether ENS made the image; the next attempt will)`, true, e.requestId, e.answered);
                }
                await sleep(settleUntil - now());
                found = await adoptable(since, deps.deadline - now());
              }
              if (adopt(found, 'an ImportImage whose answer was lost had created the image')) return { imageId: imageId!, requestId: '' };
              uncertain = undefined;
            }
            try {
              return await deps.ens.importImage(params, Math.min(msLeft, config.ensTimeoutMs));
            } catch (err) {
              // Throttling is refused before any work; anything else may have gone through.
              if (err instanceof EnsCallError && err.transient && !err.code.startsWith('Throttling')) {
                uncertain = { at: now(), answered: err.answered, error: err };
                possiblySent = true;
              }
              throw err;
            }
          },
          isTransientEns,
          // ENS throttles per second: waits beyond a couple of seconds only lose throughput
          { deadline: deps.deadline, now, sleep, random: deps.random, baseMs: 100, maxMs: 2_000 },
        );
        result.attempts = attempts;
        imageId = value.imageId;
        if (value.requestId) result.ensRequestId = value.requestId;
      } catch (err) {
        const ensError = err instanceof RetriesExhausted ? err.lastError : err;
        if (err instanceof RetriesExhausted) result.attempts = err.attempts;
        if (ensError instanceof EnsCallError && !ensError.transient) {
          result.attempts = Math.max(result.attempts, 1);
          record = { ...record, state: 'rejected', errorCode: ensError.code, reason: ensError.message, ensRequestId: ensError.requestId, params: details.params, inspection: details.inspection };
          await writeTags('rejected', { error: ensError.code });
          await store.putText(recordKey, JSON.stringify(record));
          claimedKey = undefined;
          return finish({ outcome: 'rejected', errorCode: ensError.code, reason: `ImportImage refused: ${ensError.message}`, ensRequestId: ensError.requestId }, details);
        }
        throw ensError;
      }
    }
    if (deps.crashAt === 'after-import') throw new SimulatedCrash('crash after ImportImage');

    // 6. Record: tags on the object first, then the import record (which ends the claim).
    await writeTags('importing', { imageId });
    if (deps.crashAt === 'after-tags') throw new SimulatedCrash('crash after the tags');
    record = {
      ...record,
      state: 'importing',
      imageId,
      ensRequestId: result.ensRequestId,
      params: details.params,
      inspection: details.inspection,
      importedAt: new Date(now()).toISOString(),
      ...(adopted ? { adopted: true } : {}),
      history: [{ state: 'importing', at: new Date(now()).toISOString() }],
    };
    await store.putText(recordKey, JSON.stringify(record));
    claimedKey = undefined;
    // The tracker follows the import from here; an entry already there is harmless.
    await store.putText(pendingKey(config.statePrefix, imageId, recordKey), '');
    if (target.disks) await clearWaiting(event.bucket, target.disks, deps);
    return finish({ outcome: 'imported', imageId }, details);
  } catch (err) {
    if (err instanceof SimulatedCrash) throw err;
    // Transient: release the claim so FC's retry of this event can claim it again. If an
    // ImportImage may have gone through, leave the claim, marked stale: the retry then takes
    // it over and looks for the image before importing again.
    if (claimedKey) {
      const release = possiblySent && claimRecord
        ? store.putText(claimedKey, JSON.stringify({ ...claimRecord, claimDeadline: new Date(0).toISOString() }))
        : store.delete(claimedKey);
      await release.catch((e: unknown) => deps.log.error({ event: 'claim-release-failed', key, reason: String((e as Error).message) }));
    }
    if (err instanceof ClaimBusy) {
      return finish({ outcome: 'failed', errorCode: 'claim-busy', reason: err.message });
    }
    const code = err instanceof EnsCallError || err instanceof OssCallError ? err.code : err instanceof ManifestRetry ? 'manifest-retry' : 'InternalError';
    const message = err instanceof Error ? err.message : String(err);
    return finish({ outcome: 'failed', errorCode: code, reason: message });
  }
}

interface ImportTarget {
  kind: 'import';
  params: Record<string, string>;
  details: { rule: string; params: Record<string, ProvenancedValue>; inspection: Record<string, unknown> };
  problems: { code: string; message: string }[];
  /** the objects that get the importer's tags */
  tagged: { key: string; tagCount: number }[];
  nameFixes: { original: string; fixed: string }[];
  disks?: string[];
}
type Target = ImportTarget | { kind: 'skip'; errorCode: string; reason: string };

function objectTarget(event: ObjectEvent, key: string, head: HeadRead, config: ImporterConfig): Target {
  const plan = planImport({ bucket: event.bucket, region: event.region, key, meta: decodeUserMeta(head.meta), rules: config.rules, rulesSource: config.rulesSource });
  if (plan.verdict === 'skip') return { kind: 'skip', errorCode: plan.errorCode, reason: plan.reason };
  const inspection = inspectQcow2(head.bytes, head.size, inspectionLimits(config.rules));
  return {
    kind: 'import',
    params: plan.params,
    details: { rule: plan.rule, params: plan.provenance, inspection: summarizeInspection(inspection) },
    problems: [...inspection.refusals, ...plan.problems],
    tagged: [{ key, tagCount: head.tagCount }],
    nameFixes: plan.derived.nameFixes,
  };
}

export const waitingKey = (statePrefix: string, bucket: string, diskKey: string): string =>
  `${statePrefix}waiting/${createHash('sha256').update(`${bucket}\n${diskKey}`).digest('hex').slice(0, 40)}.json`;

/** A multi-disk image: every disk read (header only), inspected, and sent in manifest order. */
async function manifestTarget(event: ObjectEvent, key: string, head: HeadRead, deps: PipelineDeps, now: () => number): Promise<Target> {
  const { config, store } = deps;
  const reject = (code: string, message: string): ImportTarget => ({
    kind: 'import',
    params: {},
    details: { rule: '', params: {}, inspection: {} },
    problems: [{ code, message }],
    tagged: [{ key, tagCount: head.tagCount }],
    nameFixes: [],
  });
  if (head.size > head.bytes.length) return reject('manifest-invalid', `the manifest is ${head.size} bytes; at most ${config.headerBytes} are read`);
  const plan = planManifest({ bucket: event.bucket, region: event.region, key, text: head.bytes.toString('utf8'), objectMeta: decodeUserMeta(head.meta), rules: config.rules, rulesSource: config.rulesSource });
  if (plan.verdict === 'invalid') return reject('manifest-invalid', plan.reason);
  if (plan.verdict === 'skip') return { kind: 'skip', errorCode: plan.errorCode, reason: plan.reason };
  const { disks, params, provenance } = plan;

  const heads = await Promise.all(disks.map((d) => store.readHead(d, config.headerBytes)));
  const missing = disks.filter((_, i) => !heads[i]);
  const problems = [...plan.problems];
  if (missing.length) {
    const since = Date.parse(head.lastModified ?? '') || now();
    const deadline = since + config.manifestWaitMs;
    if (now() < deadline) {
      const body = JSON.stringify({ manifestKey: key, bucket: event.bucket, region: event.region, missing, since: new Date(since).toISOString(), deadline: new Date(deadline).toISOString() });
      if (!config.dryRun) for (const d of missing) await store.putText(waitingKey(config.statePrefix, event.bucket, d), body);
      return { kind: 'skip', errorCode: 'manifest-waiting', reason: `waiting until ${new Date(deadline).toISOString()} for disk(s) ${missing.join(', ')}` };
    }
    problems.unshift({ code: 'manifest-missing-disk', message: `disk(s) never arrived: ${missing.join(', ')}` });
  }
  const inspections = disks.map((d, i) => {
    const h = heads[i];
    if (!h) return { key: d, missing: true };
    const inspection = inspectQcow2(h.bytes, h.size, inspectionLimits(config.rules));
    for (const r of inspection.refusals) problems.unshift({ code: r.code, message: `disk ${d}: ${r.message}` });
    return { key: d, ...summarizeInspection(inspection) };
  });
  return {
    kind: 'import',
    params,
    details: { rule: plan.rule, params: provenance, inspection: { disks: inspections } },
    problems,
    tagged: [{ key, tagCount: head.tagCount }, ...disks.flatMap((d, i) => (heads[i] ? [{ key: d, tagCount: heads[i]!.tagCount }] : []))],
    nameFixes: plan.nameFixes,
    disks,
  };
}

/** A disk a waiting manifest needs has arrived: run the manifest again. */
async function wakeWaitingManifest(event: ObjectEvent, diskKey: string, deps: PipelineDeps): Promise<void> {
  const entryKey = waitingKey(deps.config.statePrefix, event.bucket, diskKey);
  const text = await deps.store.getText(entryKey);
  if (!text) return;
  const waiting = JSON.parse(text) as { manifestKey: string };
  deps.log.info({ event: 'manifest-woken', bucket: event.bucket, key: waiting.manifestKey, disk: diskKey });
  const result = await processObjectEvent({ eventName: 'ObjectCreated:PutObject', region: event.region, bucket: event.bucket, key: waiting.manifestKey }, deps);
  // kept until the manifest is through, so a retry of this disk's event wakes it again
  if (result.outcome === 'failed') throw new ManifestRetry(`the waiting manifest ${waiting.manifestKey} failed: ${result.reason ?? ''}`);
  if (!deps.config.dryRun) await deps.store.delete(entryKey);
}

/** Thrown when a woken manifest failed transiently: the disk's event is retried, and wakes it again. */
export class ManifestRetry extends Error {}

async function clearWaiting(bucket: string, disks: string[], deps: PipelineDeps): Promise<void> {
  for (const d of disks) await deps.store.delete(waitingKey(deps.config.statePrefix, bucket, d));
}
