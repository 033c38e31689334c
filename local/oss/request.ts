import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { OssError } from './errors';
import type { BodyStore, Bucket, Segment, StoredObject } from './store';

/** One request as an operation sees it: no HTTP response in reach. */
export interface OssRequest {
  method: string;
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  bucketName?: string;
  key: string;
  hostRegion?: string;
  operation: string;
  requestId: string;
  accessKeyId?: string;
  body: Readable;
  /** for an operation on many keys, or a copy's source: refuse a key the caller may not touch (RAM, per key) */
  authorizeKey?: (action: string, key: string, bucket?: string) => void;
}

/** What an operation answers; the server turns it into HTTP. */
export interface OssNotice {
  name: string;
  object: { key: string; size: number; etag: string; meta: Record<string, string> };
  deltaSize: number;
}

export interface OssAnswer {
  status: number;
  headers?: Record<string, string>;
  xml?: { root: string; body: Record<string, unknown> };
  /** a JSON body (GetBucketPolicy) */
  json?: string;
  /** bytes [start, end] of the segments (a GET) */
  content?: { segments: Segment[]; start: number; end: number };
  /** the ObjectCreated notification this operation fires, after the answer */
  event?: OssNotice;
  /** several (DeleteMultipleObjects fires one ObjectRemoved:DeleteObjects per key removed) */
  events?: OssNotice[];
}

/** The stand-in's state, as the operations use it. */
export interface OssState {
  buckets: Map<string, Bucket>;
  bodies: BodyStore;
  accountId: string;
  requireBucket(name: string | undefined): Bucket;
  /** release file bodies no object references any more (copies share segments) */
  releaseUnreferenced(segments: Segment[]): void;
}

export const requireObject = (bucket: Bucket, key: string): StoredObject => {
  const obj = bucket.objects.get(key);
  if (!obj) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
  return obj;
};
