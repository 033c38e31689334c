import { realClock } from '../core/clock';
import { OssCallError } from '../adapters/object-store';
import { MIN_PART_BYTES, sourceOf } from '../core/conversion';
import { MultipartOutput } from '../formats/multipart-output';
import { pieceBytes, Qcow2Writer } from '../formats/qcow2-writer';
import { ConvertRefusal } from '../formats/refusal';
import type { DiskSource } from '../formats/registry';
import type { ConversionSession } from './conversion-session';
import type { ConvertDeps } from './deps';

/** pieces between looks at the clock: a piece is a cluster (a VMDK grain) up to a 4 MiB read */
export const CLOCK_EVERY = 16;

/** The upload a conversion has open, and when it was begun: what a failure or a finish must clean up. */
export interface OpenUpload {
  uploadId?: string;
  uploadKey?: string;
  /** [before, after] the InitiateMultipartUpload call */
  initiating?: [number, number];
  /** the conversion fanned out: a final failure removes its workers' folder */
  fanOut?: boolean;
}

/** Converting would not finish before the function's timeout. */
export class ConvertTimeout extends Error {
  override name = 'ConvertTimeout';
  constructor(
    message: string,
    /** convert-timeout: the time ran out; convert-would-time-out: refused before starting */
    readonly code: 'convert-timeout' | 'convert-would-time-out' = 'convert-timeout',
  ) {
    super(message);
  }
}

export interface BodyResult {
  outputEtag: string;
  outputBytes: number;
  parts: number;
  /** the output already existed as this version's (a completed upload whose answer was lost) */
  adopted: boolean;
}

/** Where a conversion writes: the output key, its metadata, and whether it replaces an earlier version's output. */
export interface OutputTarget {
  key: string;
  meta: Record<string, string>;
  replace?: boolean;
}

/**
 * The disk's clusters through the qcow2 writer into a multipart upload of the output. The
 * upload id is recorded before the first part; whatever ends the conversion early leaves it
 * to the caller to abort (`open` tells it which).
 */
export function convertBody(
  source: DiskSource,
  session: ConversionSession,
  deps: ConvertDeps,
  open: OpenUpload,
  output: OutputTarget,
): Promise<BodyResult> {
  const clock = deps.clock ?? realClock;
  const stopAt = deps.deadline - deps.config.marginMs;
  return writeOutput(session, deps, open, output, async (out) => {
    const writer = new Qcow2Writer(source.virtualSize, (chunk) => out.write(chunk), MIN_PART_BYTES);
    let n = 0;
    let done = 0;
    for await (const piece of source.clusters) {
      await writer.piece(piece);
      done += pieceBytes(piece);
      if (++n % CLOCK_EVERY === 0 && clock.now() > stopAt)
        throw new ConvertTimeout(
          `converted ${done} of ${source.virtualSize} bytes when the function's time ran out; raise the convert-image timeout in s.yaml`,
        );
    }
    return (await writer.finish()).head;
  });
}

/**
 * The one door every qcow2 output goes through (the one-pass writer, the fan-out assembly): a
 * multipart upload begun and recorded, filled by `fill` (which returns the head, part 1),
 * completed, stray uploads of a lost initiate answer aborted, the ETag read back; a completion
 * whose answer was lost is adopted when the output is this version's.
 */
export async function writeOutput(
  session: ConversionSession,
  deps: ConvertDeps,
  open: OpenUpload,
  output: OutputTarget,
  fill: (out: MultipartOutput) => Promise<Buffer>,
): Promise<BodyResult> {
  const { transfer, config } = deps;
  const clock = deps.clock ?? realClock;
  const { key, etag } = session.record;
  const outputKey = output.key;
  // an initiate whose answer was lost and retried leaves an upload begun in this window
  open.initiating = [clock.now(), 0];
  const uploadId = await transfer.initiate(outputKey, output.meta, output.replace);
  open.initiating[1] = clock.now();
  open.uploadId = uploadId;
  open.uploadKey = outputKey;
  await session.noteUpload(uploadId, outputKey);
  await deps.onStep?.('after-initiate');
  const out = new MultipartOutput(transfer, outputKey, uploadId, output.replace, deps.sizes?.part, config.streams);
  try {
    const head = await fill(out);
    await deps.onStep?.('before-complete');
    await out.complete(head);
    open.uploadId = undefined;
    await session.abortStrays(outputKey, open.initiating, uploadId);
    // the completion's answer carries the ETag in its body only: read it back, which also proves the object is there
    const outputEtag = (await deps.store.head(outputKey))?.etag;
    if (!outputEtag) throw new ConvertRefusal('convert-output-missing', `${outputKey} was removed right after it was written`);
    return { outputEtag, outputBytes: out.bytes, parts: out.parts.length, adopted: false };
  } catch (err) {
    await out.settle();
    // a completion whose answer was lost: retried, it finds the upload gone or the key taken
    if (
      err instanceof OssCallError &&
      (err.code === 'NoSuchUpload' || err.code === 'FileAlreadyExists') &&
      out.parts.some((p) => p.number === 1)
    ) {
      const found = await outputState(deps, outputKey, key, etag);
      if (found.kind === 'this-version') {
        open.uploadId = undefined;
        return { outputEtag: found.etag, outputBytes: out.bytes, parts: out.parts.length, adopted: true };
      }
      throw new ConvertRefusal('convert-output-exists', `${outputKey} was created by another upload while this one converted`);
    }
    throw err;
  }
}

export type OutputState =
  | { kind: 'absent' }
  /** made from this very version (an attempt that ended before recording it) */
  | { kind: 'this-version'; etag: string }
  /** made from an earlier version of the same key: a corrected upload replaces it */
  | { kind: 'earlier-version' }
  /** anyone else's: never replaced */
  | { kind: 'foreign' };

/** What the output key holds, by the source its metadata names. */
export async function outputState(deps: Pick<ConvertDeps, 'store'>, outputKey: string, key: string, etag: string): Promise<OutputState> {
  const head = await deps.store.readHead(outputKey, 1);
  if (!head) return { kind: 'absent' };
  const source = sourceOf(head.meta);
  if (source?.key !== key) return { kind: 'foreign' };
  return source.etag === etag ? { kind: 'this-version', etag: head.etag } : { kind: 'earlier-version' };
}
