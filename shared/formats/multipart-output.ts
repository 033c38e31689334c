import { MAX_PARTS, partBytes } from '../core/conversion';
import type { ObjectTransfer, UploadedPart } from '../adapters/oss-transfer';
import { ConvertRefusal } from './refusal';

/**
 * The qcow2's body as parts 2, 3, … of a multipart upload while it is written, one part
 * uploading while the next fills; the head (header and L1), known last, becomes part 1.
 */
export class MultipartOutput {
  readonly parts: UploadedPart[] = [];
  private pending: Buffer[] = [];
  private held = 0;
  private nextPart = 2;
  private inFlight: Promise<void> = Promise.resolve();
  bytes = 0;

  constructor(
    private readonly transfer: ObjectTransfer,
    readonly key: string,
    readonly uploadId: string,
    /** the key holds this source's output of an earlier version: completing replaces it */
    private readonly replace = false,
    private readonly sizeOf: (part: number) => number = partBytes,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.held += chunk.length;
    if (this.held >= this.sizeOf(this.nextPart)) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.held) return;
    if (this.nextPart > MAX_PARTS)
      throw new ConvertRefusal('convert-output-too-large', `the qcow2 needs more than ${MAX_PARTS} parts of a multipart upload`);
    const body = Buffer.concat(this.pending, this.held);
    const part = this.nextPart++;
    this.pending = [];
    this.held = 0;
    // one upload at a time: the next part fills meanwhile, and memory stays at two parts
    await this.inFlight;
    const upload = this.transfer.uploadPart(this.key, this.uploadId, part, body).then((p) => {
      this.parts.push(p);
      this.bytes += body.length;
    });
    // a failure surfaces at the next await of inFlight, never as an unhandled rejection
    upload.catch(() => undefined);
    this.inFlight = upload;
  }

  /** The rest of the body, then the head as part 1, then the upload completed. */
  async complete(head: Buffer): Promise<void> {
    await this.flush();
    await this.inFlight;
    this.parts.push(await this.transfer.uploadPart(this.key, this.uploadId, 1, head));
    this.bytes += head.length;
    await this.transfer.complete(
      this.key,
      this.uploadId,
      [...this.parts].sort((a, b) => a.number - b.number),
      this.replace,
    );
  }

  /** After a failure: the part in flight settled, so nothing is written after an abort. */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => undefined);
  }
}
