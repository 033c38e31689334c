import { createHash } from 'node:crypto';
import { deadlineRunner, OssCallError } from '../../shared/adapters/object-store';
import type { ObjectTransfer, UploadedPart } from '../../shared/adapters/oss-transfer';
import type { Caller, World } from './world';

/**
 * The converter's side of the in-memory bucket: ranged reads with If-Match, and multipart
 * uploads with the stand-in's rules (forbid-overwrite at initiate and complete, NoSuchUpload
 * once completed or aborted). Every call goes through the world's numbered fault plan.
 */

export interface WorldUpload {
  key: string;
  meta: Record<string, string>;
  initiated: number;
  parts: Map<number, Buffer>;
}

const uploadsOf = new WeakMap<World, Map<string, WorldUpload>>();
const completedOf = new WeakMap<World, { key: string; sourceEtag?: string }[]>();
let seq = 0;

/** The multipart uploads begun and neither completed nor aborted. */
export function openUploads(world: World): Map<string, WorldUpload> {
  const m = uploadsOf.get(world) ?? new Map<string, WorldUpload>();
  uploadsOf.set(world, m);
  return m;
}

/** Every multipart upload that completed: which key, made from which source version. */
export function completedUploads(world: World): { key: string; sourceEtag?: string }[] {
  const list = completedOf.get(world) ?? [];
  completedOf.set(world, list);
  return list;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex').toUpperCase();
const refused = (code: string, status: number) => new OssCallError(code, code, status, false);

export function worldTransfer(world: World, caller: Caller, deadline: number): ObjectTransfer {
  const run = deadlineRunner({ deadline, clock: world.clock });
  const ossError = (answered: boolean) =>
    new OssCallError(answered ? 'InternalError' : 'RequestTimeout', 'transient', answered ? 503 : -2, true);
  const c = <T>(op: string, fn: () => T) => run(op, (t) => world.call(caller, op, t, fn, ossError));
  const uploads = openUploads(world);
  const upload = (key: string, id: string) => {
    const u = uploads.get(id);
    if (!u || u.key !== key) throw refused('NoSuchUpload', 404);
    return u;
  };
  return {
    readRange: (key, etag, offset, length) =>
      c('GetObject', () => {
        const o = world.objects.get(key);
        if (!o) throw refused('NoSuchKey', 404);
        if (o.etag !== etag) throw refused('PreconditionFailed', 412);
        return o.body.subarray(offset, offset + length);
      }),
    initiate: (key, meta, replace = false) =>
      c('InitiateMultipartUpload', () => {
        if (!replace && world.objects.has(key)) throw refused('FileAlreadyExists', 409);
        const id = `upload-${++seq}`;
        uploads.set(id, { key, meta: { ...meta }, initiated: world.clock.now(), parts: new Map() });
        return id;
      }),
    uploadPart: (key, id, part, body) =>
      c('UploadPart', (): UploadedPart => {
        upload(key, id).parts.set(part, Buffer.from(body));
        return { number: part, etag: md5(body) };
      }),
    copyPart: (key, id, part, from) =>
      c('UploadPartCopy', (): UploadedPart => {
        const u = upload(key, id);
        const o = world.objects.get(from.key);
        if (!o) throw refused('NoSuchKey', 404);
        if (o.etag !== from.etag) throw refused('PreconditionFailed', 412);
        const body = Buffer.from(o.body.subarray(from.offset, from.offset + from.length));
        u.parts.set(part, body);
        return { number: part, etag: md5(body) };
      }),
    complete: (key, id, parts, replace = false) =>
      c('CompleteMultipartUpload', () => {
        const u = upload(key, id);
        if (!replace && world.objects.has(key)) throw refused('FileAlreadyExists', 409);
        const body = Buffer.concat(parts.map((p) => u.parts.get(p.number) ?? Buffer.alloc(0)));
        uploads.delete(id);
        world.writes.push({ op: 'put', key });
        world.put(key, body, u.meta);
        completedUploads(world).push({ key, sourceEtag: u.meta['importer-source-etag'] });
      }),
    abort: (key, id) =>
      c('AbortMultipartUpload', () => {
        const u = uploads.get(id);
        if (!u || u.key !== key) return false;
        uploads.delete(id);
        return true;
      }),
    pendingUploads: (key, under = false) =>
      c('ListMultipartUploads', () =>
        [...uploads]
          .filter(([, u]) => (under ? u.key.startsWith(key) : u.key === key))
          .map(([uploadId, u]) => ({ key: u.key, uploadId, initiated: new Date(u.initiated).toISOString() })),
      ),
  };
}
