import type { ObjectStore } from '../adapters/object-store';
import type { ObjectTransfer } from '../adapters/oss-transfer';
import type { Clock } from '../core/clock';
import type { Logger } from '../runtime/logger';
import { clearMarkers } from '../state/claim';
import type { StateLayout } from '../state/layout';
import { conversionHistory, encodeConversion, type ConversionRecord, type ConversionState } from '../state/conversion-record';

/** Skew allowed between OSS's clock (an upload's Initiated) and ours. */
const SKEW_MS = 5 * 60_000;
/** the same, around one call: OSS stamps Initiated by its clock */
const STRAY_SKEW_MS = 30_000;

/**
 * One claimed source version: every change of its record is written before the step it
 * enables (the upload id before the first part), so whoever takes over knows what to undo.
 */
export class ConversionSession {
  constructor(
    readonly claimKey: string,
    public record: ConversionRecord,
    private readonly deps: { store: ObjectStore; transfer: ObjectTransfer; log: Logger; clock: Clock; layout: StateLayout },
  ) {}

  private at(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  private async write(next: ConversionRecord): Promise<void> {
    await this.deps.store.putText(this.claimKey, encodeConversion(next));
    this.record = next;
    if (next.state !== 'converting') await clearMarkers(this.deps.store, this.deps.layout, this.claimKey, next.generation);
  }

  /**
   * Uploads to the output that an earlier attempt on this version left unfinished: the one its
   * record names, and any begun since it started (an initiate whose answer was lost).
   */
  async abortLeftovers(): Promise<number> {
    const { transfer, log } = this.deps;
    const since = Date.parse(this.record.firstClaimedAt) - SKEW_MS;
    const uploads = new Map<string, string>();
    if (this.record.uploadId) uploads.set(this.record.uploadId, this.record.uploadKey ?? this.record.outputKey);
    for (const key of new Set([this.record.outputKey, ...(this.record.outputs ?? [])]))
      for (const u of await transfer.pendingUploads(key)) if (Date.parse(u.initiated) >= since) uploads.set(u.uploadId, key);
    let aborted = 0;
    for (const [id, key] of uploads) {
      if (await transfer.abort(key, id)) {
        aborted += 1;
        const reason = 'left by an earlier attempt on this version';
        log.warn({ event: 'multipart-aborted', bucket: this.record.bucket, key, uploadId: id, reason });
      }
    }
    if (this.record.uploadId) await this.write({ ...this.record, uploadId: undefined, uploadKey: undefined });
    return aborted;
  }

  /**
   * Uploads to `key` begun while this attempt's InitiateMultipartUpload was in flight, other
   * than `keep`: an initiate whose answer was lost and retried began them. Best effort: the next
   * attempt on the version, or the bucket's lifecycle rule, gets what this misses.
   */
  async abortStrays(key: string, [from, to]: [number, number], keep: string | undefined): Promise<void> {
    const { transfer, log } = this.deps;
    try {
      for (const u of await transfer.pendingUploads(key)) {
        const at = Date.parse(u.initiated);
        if (u.uploadId === keep || at < from - STRAY_SKEW_MS || at > to + STRAY_SKEW_MS) continue;
        if (await transfer.abort(key, u.uploadId)) {
          const reason = 'begun by an InitiateMultipartUpload whose answer was lost and retried';
          log.warn({ event: 'multipart-aborted', bucket: this.record.bucket, key, uploadId: u.uploadId, reason });
        }
      }
    } catch (err) {
      log.warn({ event: 'multipart-abort-failed', bucket: this.record.bucket, key, reason: String((err as Error).message) });
    }
  }

  noteUpload(uploadId: string, uploadKey: string): Promise<void> {
    return this.write({ ...this.record, uploadId, uploadKey });
  }

  noteOutputs(outputs: string[]): Promise<void> {
    return this.write({ ...this.record, outputs });
  }

  converted(fields: { outputEtag: string; format: string; virtualSize?: number; outputBytes?: number; note?: string }): Promise<void> {
    const at = this.at();
    const { note, ...rest } = fields;
    return this.write({
      ...this.record,
      ...rest,
      state: 'converted',
      uploadId: undefined,
      errorCode: undefined,
      reason: undefined,
      convertedAt: at,
      history: conversionHistory(this.record, 'converted', at, note),
    });
  }

  end(state: Exclude<ConversionState, 'converting' | 'converted'>, errorCode: string, reason: string, format?: string): Promise<void> {
    const at = this.at();
    return this.write({
      ...this.record,
      state,
      ...(format ? { format } : {}),
      uploadId: undefined,
      errorCode,
      reason: reason.slice(0, 8192),
      history: conversionHistory(this.record, state, at, errorCode),
    });
  }

  /** Give the version back after a transient failure: expired at once, the next delivery takes it over. */
  async release(why: string, uploadStillOpen: string | undefined): Promise<void> {
    const at = this.at();
    try {
      await this.write({
        ...this.record,
        claimDeadline: new Date(0).toISOString(),
        uploadId: uploadStillOpen,
        history: conversionHistory(this.record, 'converting', at, `released: ${why}`),
      });
    } catch (err) {
      // the claim then expires at the holder's deadline and the next attempt takes it over
      this.deps.log.error({ event: 'claim-release-failed', key: this.record.key, reason: String((err as Error).message) });
    }
  }
}
