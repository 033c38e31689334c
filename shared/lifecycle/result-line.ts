import type { Clock } from '../core/clock';
import type { Logger } from '../runtime/logger';

/** What every path reports of one version, whatever its job. */
export interface VersionResult {
  outcome: string;
  bucket: string;
  key: string;
  etag?: string;
  size?: number;
  errorCode?: string;
  reason?: string;
  missingAction?: string;
  retryable?: boolean;
  requestId?: string;
  durationMs: number;
  /** the version ended is not the one the object holds now: its tags were left to the newer one */
  olderVersion?: boolean;
}

/** Where every path's line starts: the event's version, nothing decided yet. */
export function firstLine(event: { bucket: string; key: string; etag?: string; size?: number }, requestId: string) {
  return {
    outcome: 'skipped' as const,
    bucket: event.bucket,
    key: event.key,
    etag: event.etag,
    size: event.size,
    requestId,
    durationMs: 0,
  };
}

/** A step's answer: the fields it knows, and details logged but not returned. */
export type Finished<R extends VersionResult> = Partial<Omit<R, 'bucket' | 'durationMs'>> & { details?: object };

/** The one result line of a version: filled as the steps learn, logged once when finished. */
export class ResultLine<R extends VersionResult> {
  private readonly started: number;

  constructor(
    readonly result: R,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** fields every line of this path carries (`event: 'import-given-up'`, `dryRun`) */
    private readonly extra: Record<string, unknown> = {},
  ) {
    this.started = clock.now();
  }

  finish({ details, ...fields }: Finished<R>): R {
    Object.assign(this.result, fields, { durationMs: this.clock.now() - this.started });
    const level = this.result.outcome === 'failed' ? 'error' : this.result.outcome === 'rejected' ? 'warn' : 'info';
    this.log[level]({ ...this.extra, ...this.result, ...details });
    return this.result;
  }
}
