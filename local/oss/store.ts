import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * A body is a list of segments so that a completed multipart upload references its
 * parts instead of copying them, and a test can make a 1 TiB object of zeros behind
 * a real header without writing a terabyte.
 */
export type Segment = { kind: 'buffer'; data: Buffer } | { kind: 'file'; path: string; length: number } | { kind: 'zeros'; length: number };

export interface StoredObject {
  key: string;
  segments: Segment[];
  size: number;
  /** Upper-case hex, no quotes; multipart ETags end in `-N`. */
  etag: string;
  lastModified: Date;
  contentType: string;
  /** user metadata, lower-case names without `x-oss-meta-`, values as received on the wire */
  meta: Record<string, string>;
  tags: Map<string, string>;
  type: 'Normal' | 'Multipart';
}

export interface MultipartUpload {
  uploadId: string;
  key: string;
  initiated: Date;
  contentType: string;
  meta: Record<string, string>;
  tagging?: string;
  parts: Map<number, { segment: Segment; etag: string; size: number }>;
}

/**
 * A bucket's objects with their keys kept in order, as OSS lists them: a listing seeks to its
 * prefix instead of sorting the bucket (a stand-in that lists in O(n log n) a call makes the
 * tracker's 10,000-entry runs measure the stand-in, not the tracker). The order is kept in
 * blocks of a few hundred keys, so a new key moves one block, not the whole bucket (one sorted
 * array cost the stand-in a second of CPU in the tracker's bench, all of it memmove).
 */
const BLOCK = 512;

export class SortedObjects extends Map<string, StoredObject> {
  private readonly blocks: string[][] = [];

  /** the first position whose key is not below `key`: a block and an index in it */
  private seek(key: string): { b: number; i: number } {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.blocks[mid]!.at(-1)! < key) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.blocks.length) return { b: lo, i: 0 };
    const block = this.blocks[lo]!;
    let i = 0;
    let j = block.length;
    while (i < j) {
      const mid = (i + j) >>> 1;
      if (block[mid]! < key) i = mid + 1;
      else j = mid;
    }
    return { b: lo, i };
  }

  override set(key: string, value: StoredObject): this {
    // Map's constructor calls set before the fields exist
    if (this.blocks && !super.has(key)) this.insert(key);
    return super.set(key, value);
  }

  private insert(key: string): void {
    if (!this.blocks.length) return void this.blocks.push([key]);
    let { b, i } = this.seek(key);
    if (b === this.blocks.length) [b, i] = [b - 1, this.blocks[b - 1]!.length];
    const block = this.blocks[b]!;
    block.splice(i, 0, key);
    if (block.length > 2 * BLOCK) this.blocks.splice(b + 1, 0, block.splice(BLOCK));
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    const { b, i } = this.seek(key);
    const block = this.blocks[b]!;
    block.splice(i, 1);
    if (!block.length) this.blocks.splice(b, 1);
    return true;
  }

  override clear(): void {
    super.clear();
    this.blocks.length = 0;
  }

  /** keys under `prefix` strictly after `after`, in order */
  *keysUnder(prefix: string, after: string): Generator<string> {
    const from = this.seek(after >= prefix ? after : prefix);
    for (let b = from.b; b < this.blocks.length; b++) {
      const block = this.blocks[b]!;
      for (let i = b === from.b ? from.i : 0; i < block.length; i++) {
        const key = block[i]!;
        if (key <= after) continue;
        if (!key.startsWith(prefix)) {
          if (key > prefix) return;
          continue;
        }
        yield key;
      }
    }
  }
}

export interface Bucket {
  name: string;
  region: string;
  objects: SortedObjects;
  uploads: Map<string, MultipartUpload>;
  /** OSS: once Enabled, a bucket can only be Suspended, never unversioned again */
  versioning?: 'Enabled' | 'Suspended';
  /** the bucket policy's JSON text, as PutBucketPolicy stored it */
  policy?: string;
  /** versions a versioned bucket keeps behind the current one (not served) */
  noncurrent?: StoredObject[];
}

export const segmentLength = (s: Segment): number => (s.kind === 'buffer' ? s.data.length : s.length);

/** Where bodies live: memory by default, files under a directory with `dataDir`. */
export class BodyStore {
  constructor(private readonly dataDir?: string) {
    if (dataDir) mkdirSync(dataDir, { recursive: true });
  }

  /** Stream a request body into a segment, returning its MD5 as it goes. */
  async write(body: Readable): Promise<{ segment: Segment; md5: Buffer; size: number }> {
    const hash = createHash('md5');
    let size = 0;
    if (this.dataDir) {
      const counter = new PassThrough();
      counter.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
      });
      const path = join(this.dataDir, randomBytes(12).toString('hex'));
      await pipeline(body, counter, createWriteStream(path));
      return { segment: { kind: 'file', path, length: size }, md5: hash.digest(), size };
    }
    // read in place rather than through pipeline(), whose clean-up makes an AbortSignal and a
    // DOMException per request (0.9 s of the stand-in's CPU in the tracker's bench, profiled)
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      chunks.push(chunk);
    }
    // a request cut off mid-body may end without an error: stored, it would be a truncated object
    if ((body as Readable & { complete?: boolean }).complete === false) throw new Error('the request body ended before it was complete');
    return { segment: { kind: 'buffer', data: Buffer.concat(chunks) }, md5: hash.digest(), size };
  }

  /** The whole body, synchronously (small objects: state objects in tests and the demo). */
  readAll(segments: Segment[]): Buffer {
    return Buffer.concat(
      segments.map((s) => (s.kind === 'buffer' ? s.data : s.kind === 'zeros' ? Buffer.alloc(s.length) : readFileSync(s.path))),
    );
  }

  release(segments: Segment[]): void {
    for (const s of segments) if (s.kind === 'file') rmSync(s.path, { force: true });
  }
}

/** Stream bytes [start, end] (inclusive) of a segment list. */
export function readRange(segments: Segment[], start: number, end: number): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    let offset = 0;
    for (const s of segments) {
      const len = segmentLength(s);
      const segStart = offset;
      const segEnd = offset + len - 1;
      offset += len;
      if (segEnd < start || segStart > end || len === 0) continue;
      const from = Math.max(start, segStart) - segStart;
      const to = Math.min(end, segEnd) - segStart;
      if (s.kind === 'buffer') yield s.data.subarray(from, to + 1);
      else if (s.kind === 'file') {
        for await (const chunk of createReadStream(s.path, { start: from, end: to })) yield chunk as Buffer;
      } else {
        let left = to - from + 1;
        const block = Buffer.alloc(Math.min(left, 1 << 20));
        while (left > 0) {
          const n = Math.min(left, block.length);
          yield block.subarray(0, n);
          left -= n;
        }
      }
    }
  }
  return Readable.from(generate());
}

export const md5Hex = (md5: Buffer): string => md5.toString('hex').toUpperCase();

/** OSS multipart ETag: MD5 over the concatenated binary part MD5s, then `-<count>`. */
export function multipartEtag(partEtags: string[]): string {
  const hash = createHash('md5');
  for (const e of partEtags) hash.update(Buffer.from(e, 'hex'));
  return `${hash.digest('hex').toUpperCase()}-${partEtags.length}`;
}
