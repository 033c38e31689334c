/** What happened to one object: the handler's return value and the log line's fields. */

export type Outcome = 'imported' | 'duplicate' | 'skipped' | 'rejected' | 'failed';

export interface ObjectResult {
  outcome: Outcome;
  bucket: string;
  key: string;
  etag?: string;
  size?: number;
  imageId?: string;
  imageName?: string;
  errorCode?: string;
  reason?: string;
  /** FC request id of the invocation */
  requestId?: string;
  ensRequestId?: string;
  /** ImportImage attempts made */
  attempts: number;
  durationMs: number;
  dryRun?: boolean;
  /** a permission refusal: the RAM action the function's role lacks */
  missingAction?: string;
  /** failed, and FC's retry may fix it (the handler throws for these only) */
  retryable?: boolean;
  /** ended a version the object no longer holds: its record says so, the object's tags stay the newer version's */
  olderVersion?: boolean;
}
