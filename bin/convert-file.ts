import { open, rm, stat } from 'node:fs/promises';
import { MIN_PART_BYTES, outputMeta } from '../shared/core/conversion';
import { convertibleFormat, detectSource, openDiskSource, type SourceFormat } from '../shared/formats/registry';
import { MultipartOutput } from '../shared/formats/multipart-output';
import { ovaDisks } from '../shared/formats/ova-reader';
import { pieceBytes, Qcow2Writer, type Qcow2Layout } from '../shared/formats/qcow2-writer';
import { blockCachedSource } from '../shared/formats/ranged-source';
import { ConvertRefusal, type RandomAccess } from '../shared/formats/refusal';
import { memberSource } from '../shared/formats/tar-index';
import type { OssTarget } from '../shared/adapters/oss';

/** The importer's default limit on a disk's virtual size (importer.yaml limits.maxVirtualSizeGiB). */
const MAX_VIRTUAL = 2048 * 2 ** 30;
/** GETs and part uploads in flight, as the function's default (IMPORTER_CONVERT_STREAMS) */
const STREAMS = 2;

export type { SourceFormat };

/** Where the qcow2 goes: its body from `begin`'s offset on, in order, then the head at offset 0. */
interface QcowSink {
  minHeadBytes: number;
  /** the head's size: where the body starts */
  begin(headBytes: number): void;
  write(chunk: Buffer): Promise<void>;
  finish(head: Buffer): Promise<void>;
  abort(): Promise<void>;
}

export interface ConvertInput {
  name: string;
  src: RandomAccess;
  /** an object's metadata and ETag, carried onto an OSS output */
  meta?: Record<string, string>;
  etag?: string;
  /** reads already go through blocks (an object) */
  blocked?: boolean;
  close(): Promise<void>;
}

/** A disk to a qcow2, one pass over the guest; an OVA's one disk (several: upload it, the converter writes a manifest). */
export async function convertDisk(
  input: ConvertInput,
  sink: QcowSink,
  progress?: (bytes: number) => void,
): Promise<Qcow2Layout & { format: SourceFormat | 'ova'; virtualBytes: number }> {
  let { name, src } = input;
  try {
    // the same registry as the function: the bytes decide, a qcow2 is never wrapped as a raw disk
    const ova = (await detectSource(name, src)) === 'ova';
    if (ova) ({ name, src } = await onlyDisk(src));
    const format = convertibleFormat(await detectSource(name, src), name);
    // VMDK's grains are small reads: through 4 MiB blocks. A raw disk is read in blocks already, and a local VHD or
    // VHDX reads its tables once and its data in 4 MiB reads into reused buffers (formats/chunked-read.ts)
    const direct = format === 'raw' || input.blocked || ((format === 'vhd' || format === 'vhdx') && !!src.readInto);
    const reader = direct ? src : blockCachedSource(src.size, (o, l) => src.read(o, l));
    const source = await openDiskSource(format, reader, MAX_VIRTUAL);
    const writer = new Qcow2Writer(source.virtualSize, (chunk) => sink.write(chunk), sink.minHeadBytes);
    sink.begin(writer.headBytes);
    let read = 0;
    for await (const piece of source.clusters) {
      await writer.piece(piece);
      read += pieceBytes(piece);
      progress?.(read);
    }
    const { head, layout } = await writer.finish();
    await sink.finish(head);
    return { ...layout, format: ova ? 'ova' : source.format, virtualBytes: source.virtualSize };
  } catch (err) {
    // nothing half-written stays: a refused input leaves no output behind
    await sink.abort();
    throw err;
  }
}

async function onlyDisk(src: RandomAccess): Promise<{ name: string; src: RandomAccess }> {
  const disks = await ovaDisks(src);
  if (disks.length > 1)
    throw new ConvertRefusal(
      'ova-too-many-disks',
      `the package has ${disks.length} disks: upload it under the watched prefix, where the converter writes each disk and a manifest`,
    );
  return { name: disks[0]!.entry.name, src: memberSource(src, disks[0]!.entry) };
}

export async function fileInput(path: string): Promise<ConvertInput> {
  const size = (await stat(path)).size;
  const fd = await open(path, 'r');
  const readInto = async (target: Buffer, offset: number) => (await fd.read(target, 0, target.length, offset)).bytesRead;
  const read = async (offset: number, length: number) => {
    // every byte is overwritten by the read, or cut off after it
    const buf = Buffer.allocUnsafe(length);
    const n = await readInto(buf, offset);
    return n === length ? buf : buf.subarray(0, n);
  };
  return { name: path, src: { size, read, readInto }, close: () => fd.close() };
}

export async function fileSink(path: string): Promise<QcowSink> {
  const out = await open(path, 'w');
  let position = 0;
  // the body is written in order, copied into 8 MiB buffers and written when one is full, the
  // other filling meanwhile: the reader may reuse its buffers once a cluster is handed on, and
  // no write is one cluster
  const buffers = [Buffer.allocUnsafe(8 << 20), Buffer.allocUnsafe(8 << 20)];
  let staging = buffers[0]!;
  let held = 0;
  let writing: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    await writing;
    if (!held) return;
    const write = out.write(staging, 0, held, position);
    // a failed write surfaces at the next flush, never as an unhandled rejection
    write.catch(() => undefined);
    writing = write;
    position += held;
    held = 0;
    staging = staging === buffers[0] ? buffers[1]! : buffers[0]!;
  };
  return {
    minHeadBytes: 0,
    begin(headBytes) {
      position = headBytes;
    },
    async write(chunk) {
      for (let at = 0; at < chunk.length; ) {
        const n = chunk.copy(staging, held, at);
        held += n;
        at += n;
        if (held === staging.length) await flush();
      }
    },
    async finish(head) {
      await flush();
      await writing;
      await out.write(head, 0, head.length, 0);
      await out.close();
    },
    async abort() {
      await writing.catch(() => undefined);
      await out.close();
      await rm(path, { force: true });
    },
  };
}

/** An object of OSS read with ranged GETs of its current version (If-Match: an overwrite is noticed). */
export async function objectInput(target: OssTarget, key: string): Promise<ConvertInput> {
  // ali-oss loads only for an OSS input or output: a local file's conversion starts without it
  const [{ createObjectStore }, { createObjectTransfer }] = await Promise.all([
    import('../shared/adapters/oss'),
    import('../shared/adapters/oss-transfer'),
  ]);
  const head = await createObjectStore(target).readHead(key, 1);
  if (!head) throw new ConvertRefusal('object-missing', `oss://${target.bucket}/${key} does not exist`);
  const transfer = createObjectTransfer(target, { deadline: Number.POSITIVE_INFINITY });
  const src = blockCachedSource(head.size, (o, l) => transfer.readRange(key, head.etag, o, l), undefined, STREAMS);
  return { name: key, src, meta: head.meta, etag: head.etag, blocked: true, close: async () => undefined };
}

/** A multipart upload of the qcow2 (never over an existing object); aborted on any failure. */
export async function objectSink(target: OssTarget, key: string, input: ConvertInput): Promise<QcowSink> {
  const { createObjectTransfer } = await import('../shared/adapters/oss-transfer');
  const transfer = createObjectTransfer(target, { deadline: Number.POSITIVE_INFINITY });
  let out: MultipartOutput | undefined;
  const meta = input.etag ? outputMeta(input.meta ?? {}, input.name, input.etag) : {};
  const initiate = () =>
    transfer.initiate(key, meta).catch((err: { code?: string }) => {
      if (err.code !== 'FileAlreadyExists') throw err;
      throw new ConvertRefusal(
        'convert-output-exists',
        `oss://${target.bucket}/${key} already exists; the converter never replaces an object`,
      );
    });
  const started = async () => (out ??= new MultipartOutput(transfer, key, await initiate(), false, undefined, STREAMS));
  return {
    minHeadBytes: MIN_PART_BYTES,
    begin: () => undefined,
    write: async (chunk) => (await started()).write(chunk),
    finish: async (head) => (await started()).complete(head),
    async abort() {
      if (!out) return;
      await out.settle();
      await transfer.abort(key, out.uploadId).catch(() => undefined);
    },
  };
}
