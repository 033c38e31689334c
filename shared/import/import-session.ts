import { EnsCallError, type ImportResult } from '../adapters/ens';
import { findEarlierImage } from './adoption';
import { writeImporterTags } from '../lifecycle/object-tags';
import { RetriesExhaustedError, retryTransient } from '../core/retry';
import { clearMarkers, hasEvidence } from '../state/claim';
import { encodeRecord, withHistory, type ImportRecord } from '../state/records';
import type { ImportTarget, RejectTarget } from './targets';
import type { SessionDeps } from './deps';

/**
 * One claimed version on its way to ENS: find what an earlier attempt may have made,
 * else call ImportImage; then make the result durable, each step idempotent so the next
 * delivery or the tracker can finish what a crash interrupted.
 */

export type Imported = { kind: 'imported'; imageId: string; ensRequestId?: string; adopted: boolean; attempts: number };
export type Refused = { kind: 'refused'; error: EnsCallError; attempts: number };

const isTransientEns = (err: unknown): boolean => err instanceof EnsCallError && err.transient;
/** Throttling is refused before any work; any other failure may have gone through. */
const maySendHaveLanded = (err: EnsCallError): boolean => !err.code.startsWith('Throttling');

export class ImportSession {
  /** what this attempt knows beyond the claim body: persisted if the attempt fails */
  private evidence: Pick<ImportRecord, 'sentSince' | 'uncertain' | 'imageId'>;
  /** ImportImage calls made by this attempt */
  attempts = 0;
  /** the ImageId ENS gave this version, once known (a later write may still fail) */
  get imageId(): string | undefined {
    return this.evidence.imageId;
  }

  constructor(
    readonly claimKey: string,
    private record: ImportRecord,
    private readonly deps: SessionDeps,
  ) {
    this.evidence = { sentSince: record.sentSince, uncertain: record.uncertain, imageId: record.imageId };
  }

  private get now(): number {
    return this.deps.clock.now();
  }

  private async step(name: string): Promise<void> {
    await this.deps.onStep?.(name);
  }

  /** An image an earlier attempt made, known from the claim, the pending index or ENS. */
  private findEarlierImage(imageName: string): Promise<string | undefined> {
    const { sentSince, uncertain, imageId } = this.evidence;
    return findEarlierImage({ ...this.deps, claimKey: this.claimKey }, imageName, {
      sentMs: Date.parse(sentSince ?? this.record.claimedAt),
      uncertain,
      imageId,
    });
  }

  private adopt(imageId: string, why: string, attempts: number): Imported {
    this.deps.log.warn({ event: 'image-adopted', bucket: this.record.bucket, key: this.record.key, imageId, reason: why });
    return { kind: 'imported', imageId, adopted: true, attempts };
  }

  /** ImportImage at most once in effect: adopt what an earlier attempt made, else call it. */
  async importOnce(target: ImportTarget): Promise<Imported | Refused> {
    const { config, clock } = this.deps;
    const name = target.params.ImageName!;
    if (hasEvidence(this.record)) {
      const earlier = await this.findEarlierImage(name);
      if (earlier) return this.adopt(earlier, 'an earlier attempt (crashed, or its answer was lost) had already imported this version', 0);
    }
    try {
      const { value } = await retryTransient((_attempt, msLeft) => this.attemptImport(target, name, msLeft), isTransientEns, {
        deadline: this.deps.deadline,
        maxAttempts: config.ensMaxAttempts,
        now: clock.now,
        sleep: clock.sleep,
        random: clock.random,
        // ENS throttles per second: waits beyond a couple of seconds only lose throughput
        baseMs: 100,
        maxMs: 2_000,
      });
      if ('adopted' in value) return value.adopted!;
      return {
        kind: 'imported',
        imageId: value.result!.imageId,
        ensRequestId: value.result!.requestId || undefined,
        adopted: false,
        attempts: this.attempts,
      };
    } catch (err) {
      const last = err instanceof RetriesExhaustedError ? err.lastError : err;
      if (last instanceof EnsCallError && !last.transient) return { kind: 'refused', error: last, attempts: Math.max(this.attempts, 1) };
      throw last;
    }
  }

  private lastEnsError?: EnsCallError;

  /** One ImportImage, after looking for the image an unanswered one may have made. */
  private async attemptImport(target: ImportTarget, name: string, msLeft: number): Promise<{ adopted?: Imported; result?: ImportResult }> {
    if (this.evidence.uncertain) {
      let earlier: string | undefined;
      try {
        earlier = await this.findEarlierImage(name);
      } catch (err) {
        // could not look (time ran out): what failed is still the ImportImage before it
        throw this.lastEnsError && isTransientEns(err) ? this.lastEnsError : err;
      }
      if (earlier) return { adopted: this.adopt(earlier, 'an ImportImage whose answer was lost had created the image', this.attempts) };
      this.evidence.uncertain = undefined;
    }
    await this.deps.pace?.(this.deps.deadline);
    this.attempts += 1;
    const sentAt = new Date(this.now).toISOString();
    try {
      return { result: await this.deps.ens.importImage(target.params, Math.min(msLeft, this.deps.config.ensTimeoutMs)) };
    } catch (err) {
      if (err instanceof EnsCallError) this.lastEnsError = err;
      if (err instanceof EnsCallError && err.transient && maySendHaveLanded(err)) {
        this.evidence.sentSince ??= sentAt;
        this.evidence.uncertain = { at: new Date(this.now).toISOString(), answered: err.answered, code: err.code };
      }
      throw err;
    }
  }

  /** Durable in this order: the pending entry (it names the ImageId), the tags, the record. */
  async complete(target: ImportTarget, imported: Imported): Promise<ImportRecord> {
    const { store, layout, log } = this.deps;
    this.evidence.imageId = imported.imageId;
    await this.step('after-import');
    await store.putText(layout.pendingKey(this.claimKey, imported.imageId), '');
    await this.step('after-pending');
    for (const t of target.tagged) await writeImporterTags(store, log, t, 'importing', { imageId: imported.imageId });
    await this.step('after-tags');
    const at = new Date(this.now).toISOString();
    const { uncertain: _u, ...rest } = this.record;
    this.record = {
      ...rest,
      state: 'importing',
      imageId: imported.imageId,
      imageName: target.params.ImageName,
      ...(imported.ensRequestId ? { ensRequestId: imported.ensRequestId } : {}),
      params: target.details.params,
      inspection: target.details.inspection,
      importedAt: at,
      ...(imported.adopted ? { adopted: true } : {}),
      ...(target.disks ? { disks: target.disks } : {}),
      history: withHistory(this.record, 'importing', at, imported.adopted ? "adopted an earlier attempt's image" : undefined),
    };
    await store.putText(this.claimKey, encodeRecord(this.record));
    await this.step('after-record');
    await this.clearMarkers();
    return this.record;
  }

  private evidenceFields(): Pick<ImportRecord, 'sentSince' | 'uncertain'> {
    const e = this.evidence;
    return { ...(e.sentSince ? { sentSince: e.sentSince } : {}), ...(e.uncertain ? { uncertain: e.uncertain } : {}) };
  }

  /** The source this qcow2 was converted from, kept in every record this attempt writes. */
  linkSource(from: { key: string; etag: string }): void {
    this.record = { ...this.record, convertedFrom: from };
  }

  private clearMarkers(): Promise<void> {
    return clearMarkers(this.deps.store, this.deps.layout, this.claimKey, this.record.generation);
  }

  /** Refused, before the call (target) or by ENS: tags first, then the record that ends the claim. */
  async reject(target: RejectTarget | ImportTarget, code: string, reason: string, ensRequestId?: string): Promise<void> {
    const { store, log } = this.deps;
    for (const t of target.tagged) await writeImporterTags(store, log, t, 'rejected', { error: code });
    const at = new Date(this.now).toISOString();
    this.record = {
      ...this.record,
      state: 'rejected',
      errorCode: code,
      reason: reason.slice(0, 8192),
      ...(ensRequestId ? { ensRequestId } : {}),
      params: target.details.params,
      inspection: target.details.inspection,
      ...(target.disks ? { disks: target.disks } : {}),
      history: withHistory(this.record, 'rejected', at, code),
    };
    await store.putText(this.claimKey, encodeRecord(this.record));
    await this.clearMarkers();
  }

  /** Handed to the converter: this version is done here; the qcow2 it becomes is imported on its own. */
  async handOff(reason: string, converter: string): Promise<void> {
    const history = withHistory(this.record, 'converting', new Date(this.now).toISOString(), converter);
    this.record = { ...this.record, state: 'converting', reason, history };
    await this.deps.store.putText(this.claimKey, encodeRecord(this.record));
    await this.clearMarkers();
  }

  /** Failed, for an operator to fix (RAM, or FC's retries spent); the evidence of a sent ImportImage stays for a retry to look first. */
  async fail(tagged: readonly { key: string }[], code: string, reason: string): Promise<ImportRecord> {
    const { store, log } = this.deps;
    for (const t of tagged) {
      await writeImporterTags(store, log, t, 'failed', { error: code }).catch((err: unknown) =>
        log.error({ event: 'tags-not-written', key: t.key, reason: String((err as Error).message) }),
      );
    }
    const at = new Date(this.now).toISOString();
    this.record = {
      ...this.record,
      state: 'failed',
      claimDeadline: new Date(0).toISOString(),
      errorCode: code,
      reason: reason.slice(0, 8192),
      ...this.evidenceFields(),
      history: withHistory(this.record, 'failed', at, code),
    };
    await store.putText(this.claimKey, encodeRecord(this.record));
    await this.clearMarkers();
    return this.record;
  }

  /** Back after a transient failure: deleted if nothing can have reached ENS, else left expired with what is known (the next attempt looks first). */
  async release(why: string): Promise<void> {
    const { store, log } = this.deps;
    const e = this.evidence;
    try {
      if (!e.sentSince && !e.imageId && !e.uncertain) {
        await store.delete(this.claimKey);
        return;
      }
      const at = new Date(this.now).toISOString();
      await store.putText(
        this.claimKey,
        encodeRecord({
          ...this.record,
          claimDeadline: new Date(0).toISOString(),
          ...this.evidenceFields(),
          ...(e.imageId ? { imageId: e.imageId } : {}),
          history: withHistory(this.record, 'claimed', at, `released: ${why}`.slice(0, 2048)),
        } satisfies ImportRecord),
      );
    } catch (err) {
      // the claim then expires at the holder's deadline and the next attempt takes it over
      log.error({ event: 'claim-release-failed', key: this.record.key, reason: String((err as Error).message) });
    }
  }
}
