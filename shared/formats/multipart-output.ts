import { MAX_PARTS, partBytes } from '../core/conversion';
import type { ObjectTransfer, UploadedPart } from '../adapters/oss-transfer';
import { ConvertRefusal } from './refusal';

/**
 * The qcow2's body as parts 2, 3, … of a multipart upload while it is written, up to
 * `parallel` parts uploading while the next fills; the head (header and L1), known last,
 * becomes part 1. Written bytes are copied into the part being filled, so a reader may reuse
 * its buffers; memory is `parallel + 1` parts.
 */
export class MultipartOutput {
  readonly parts: UploadedPart[] = [];
  private staging: Buffer | undefined;
  private held = 0;
  private nextPart: number;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  bytes = 0;

  constructor(
    private readonly transfer: ObjectTransfer,
    readonly key: string,
    readonly uploadId: string,
    /** the key holds this source's output of an earlier version: completing replaces it */
    private readonly replace = false,
    private readonly sizeOf: (part: number) => number = partBytes,
    private readonly parallel = 1,
    /** 1: no head comes last (a fan-out worker's data object) */
    firstPart = 2,
  ) {
    this.nextPart = firstPart;
  }

  /** A part written by other means (a server-side copy) counts in the completion; written parts go on after it. */
  addPart(part: UploadedPart, bytes: number): void {
    if (this.held) throw new Error('a part added while another is being filled');
    this.parts.push(part);
    this.bytes += bytes;
    this.nextPart = Math.max(this.nextPart, part.number + 1);
  }

  async write(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      // a fresh buffer per part, never reused: a call that timed out may still be sending the old one
      this.staging ??= Buffer.allocUnsafe(this.sizeOf(this.nextPart));
      const n = chunk.copy(this.staging, this.held, at);
      this.held += n;
      at += n;
      if (this.held === this.staging.length) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.held || !this.staging) return;
    if (this.nextPart > MAX_PARTS)
      throw new ConvertRefusal('convert-output-too-large', `the qcow2 needs more than ${MAX_PARTS} parts of a multipart upload`);
    const body = this.staging.subarray(0, this.held);
    const part = this.nextPart++;
    this.staging = undefined;
    this.held = 0;
    while (this.inFlight.size >= this.parallel) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const upload: Promise<void> = this.transfer.uploadPart(this.key, this.uploadId, part, body).then(
      (p) => {
        this.parts.push(p);
        this.bytes += body.length;
      },
      // a failure surfaces at the next write or the completion, never as an unhandled rejection
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    const tracked = upload.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** The rest of the body, then the head as part 1 (none: the body began at part 1), then the upload completed. */
  async complete(head: Buffer | undefined): Promise<void> {
    await this.flush();
    await this.settle();
    if (this.failure) throw this.failure;
    if (head) {
      this.parts.push(await this.transfer.uploadPart(this.key, this.uploadId, 1, head));
      this.bytes += head.length;
    }
    await this.transfer.complete(
      this.key,
      this.uploadId,
      [...this.parts].sort((a, b) => a.number - b.number),
      this.replace,
    );
  }

  /** After a failure: every part in flight settled, so nothing is written after an abort. */
  async settle(): Promise<void> {
    await Promise.all(this.inFlight);
  }
}
