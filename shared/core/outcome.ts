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
}
