import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { ossClient } from '../helpers/clients';

let stack: LocalStack;
beforeAll(async () => {
  // an account and buckets old enough for V1 signatures, so both signers are checked
  stack = await startLocalStack({
    sYaml: false,
    allowV1Signatures: true,
    buckets: [{ name: 'ens-images' }, { name: 'hz-bucket', region: 'cn-hangzhou' }],
  });
});
afterAll(() => stack.stop());

for (const v4 of [false, true]) {
  describe(`OSS stand-in with ali-oss (${v4 ? 'V4' : 'V1'} signatures)`, () => {
    const prefix = v4 ? 'v4/' : 'v1/';

    it('puts and gets an object with metadata, ETag and Last-Modified', async () => {
      const client = ossClient(stack, { v4 });
      const put = await client.put(`${prefix}a b+c/文件.txt`, Buffer.from('hello world'), {
        meta: { owner: 'ops', 'ens-platform': 'ubuntu' },
      } as never);
      expect(put.res.status).toBe(200);
      const got = await client.get(`${prefix}a b+c/文件.txt`);
      expect(got.content.toString()).toBe('hello world');
      expect(got.res.headers.etag).toBe('"5EB63BBBE01EEED093CB22BB8F5ACDC3"');
      expect(got.res.headers['last-modified']).toMatch(/GMT$/);
      expect(got.res.headers['x-oss-meta-owner']).toBe('ops');
      const head = await client.head(`${prefix}a b+c/文件.txt`);
      expect((head as any).meta).toEqual({ owner: 'ops', 'ens-platform': 'ubuntu' });
    });

    it('serves a ranged read of a large object with 206 and Content-Range', async () => {
      const header = Buffer.alloc(1024, 7);
      stack.oss.seedObject('ens-images', `${prefix}big.img`, header, 5 * 1024 ** 4);
      const client = ossClient(stack, { v4 });
      const got = await client.get(`${prefix}big.img`, { headers: { Range: 'bytes=0-65535' } } as never);
      expect(got.res.status).toBe(206);
      expect(got.content.length).toBe(65536);
      expect(got.content.subarray(0, 1024).equals(header)).toBe(true);
      expect(got.res.headers['content-range']).toBe(`bytes 0-65535/${5 * 1024 ** 4}`);
    });

    it('answers an out-of-range Range as OSS does: whole object by default, 416 with standard behaviour', async () => {
      const client = ossClient(stack, { v4 });
      await client.put(`${prefix}small`, Buffer.from('0123456789'));
      const whole = await client.get(`${prefix}small`, { headers: { Range: 'bytes=0-65535' } } as never);
      expect(whole.res.status).toBe(200);
      expect(whole.content.toString()).toBe('0123456789');
      const clipped = await client.get(`${prefix}small`, {
        headers: { Range: 'bytes=5-65535', 'x-oss-range-behavior': 'standard' },
      } as never);
      expect(clipped.res.status).toBe(206);
      expect(clipped.content.toString()).toBe('56789');
      await expect(
        client.get(`${prefix}small`, { headers: { Range: 'bytes=20-30', 'x-oss-range-behavior': 'standard' } } as never),
      ).rejects.toMatchObject({ status: 416, code: 'InvalidRange' });
    });

    it('refuses an overwrite with x-oss-forbid-overwrite (409 FileAlreadyExists)', async () => {
      const client = ossClient(stack, { v4 });
      const opts = { headers: { 'x-oss-forbid-overwrite': 'true' } } as never;
      await client.put(`${prefix}claim`, Buffer.from('one'), opts);
      await expect(client.put(`${prefix}claim`, Buffer.from('two'), opts)).rejects.toMatchObject({
        status: 409,
        code: 'FileAlreadyExists',
        name: 'FileAlreadyExistsError',
      });
      expect((await client.get(`${prefix}claim`)).content.toString()).toBe('one');
    });

    it('stores x-oss-tagging on put and reports x-oss-tagging-count', async () => {
      const client = ossClient(stack, { v4 });
      await client.put(`${prefix}tagged`, Buffer.from('x'), { headers: { 'x-oss-tagging': 'team=edge&env=prod' } } as never);
      const got = await client.get(`${prefix}tagged`, { headers: { Range: 'bytes=0-0' } } as never);
      expect(got.res.headers['x-oss-tagging-count']).toBe('2');
      const tags = await client.getObjectTagging(`${prefix}tagged`);
      expect(tags.tag).toEqual({ team: 'edge', env: 'prod' });
    });

    it('puts, gets and deletes object tags, replacing the whole set and enforcing the limits', async () => {
      const client = ossClient(stack, { v4 });
      const key = `${prefix}tags`;
      await client.put(key, Buffer.from('x'));
      await client.putObjectTagging(key, { a: '1', b: 'x y+z=w.v_u:t/s' });
      expect((await client.getObjectTagging(key)).tag).toEqual({ a: '1', b: 'x y+z=w.v_u:t/s' });
      await client.putObjectTagging(key, { c: '3' });
      expect((await client.getObjectTagging(key)).tag).toEqual({ c: '3' });
      const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v']));
      // ali-oss checks the limits itself before sending; the stand-in enforces them too.
      await expect(client.putObjectTagging(key, eleven)).rejects.toThrow(/10 tags/);
      const viaHeader = (tagging: string) => client.put(`${key}-h`, Buffer.from('x'), { headers: { 'x-oss-tagging': tagging } } as never);
      const elevenHeader = new URLSearchParams(eleven).toString();
      await expect(viaHeader(elevenHeader)).rejects.toMatchObject({ status: 400, code: 'InvalidTag' });
      await expect(viaHeader('bad*key=v')).rejects.toMatchObject({ status: 400, code: 'InvalidTag' });
      // ASCII letters only: OSS refuses café and сервер
      await expect(viaHeader(`team=${encodeURIComponent('café')}`)).rejects.toMatchObject({ status: 400, code: 'InvalidTag' });
      await expect(viaHeader(`${encodeURIComponent('сервер')}=v`)).rejects.toMatchObject({ status: 400, code: 'InvalidTag' });
      await expect(viaHeader(`k=${'x'.repeat(257)}`)).rejects.toMatchObject({ status: 400, code: 'InvalidTag' });
      await expect(viaHeader(`${'k'.repeat(129)}=v`)).rejects.toMatchObject({ status: 400, code: 'InvalidTag' });
      await expect(client.head(`${key}-h`)).rejects.toMatchObject({ status: 404 });
      expect((await client.getObjectTagging(key)).tag).toEqual({ c: '3' });
      await client.deleteObjectTagging(key);
      expect((await client.getObjectTagging(key)).tag).toEqual({});
    });

    it('deletes and copies objects', async () => {
      const client = ossClient(stack, { v4 });
      await client.put(`${prefix}src`, Buffer.from('copy me'), { meta: { a: '1' } } as never);
      const copied = await client.copy(`${prefix}dst`, `${prefix}src`);
      expect(copied.res.status).toBe(200);
      const head = await client.head(`${prefix}dst`);
      expect((head as any).meta).toEqual({ a: '1' });
      await client.delete(`${prefix}src`);
      await expect(client.head(`${prefix}src`)).rejects.toMatchObject({ status: 404, code: 'NoSuchKey' });
      await expect(client.get(`${prefix}src`)).rejects.toMatchObject({ status: 404, code: 'NoSuchKey', name: 'NoSuchKeyError' });
    });

    it('lists with prefix, delimiter, max-keys and paging (ListObjects and ListObjectsV2)', async () => {
      const client = ossClient(stack, { v4 });
      const base = `${prefix}list/`;
      for (const k of ['a/1', 'a/2', 'b/1', 'c', 'd', 'e']) await client.put(base + k, Buffer.from(k));
      const top = await client.list({ prefix: base, delimiter: '/', 'max-keys': 100 } as never, {});
      expect(top.prefixes).toEqual([`${base}a/`, `${base}b/`]);
      expect(top.objects.map((o: any) => o.name)).toEqual([`${base}c`, `${base}d`, `${base}e`]);
      const seen: string[] = [];
      let marker: string | undefined;
      do {
        const page: any = await client.list({ prefix: base, 'max-keys': 2, ...(marker ? { marker } : {}) } as never, {});
        seen.push(...page.objects.map((o: any) => o.name));
        marker = page.nextMarker ?? undefined;
      } while (marker);
      expect(seen).toHaveLength(6);
      const seenV2: string[] = [];
      let token: string | undefined;
      do {
        const page: any = await client.listV2(
          { prefix: base, 'max-keys': 4, ...(token ? { 'continuation-token': token } : {}) } as never,
          {},
        );
        seenV2.push(...page.objects.map((o: any) => o.name));
        token = page.nextContinuationToken ?? undefined;
      } while (token);
      expect(seenV2).toEqual(seen);
    });

    it('does a multipart upload whose ETag ends in -N', async () => {
      const client = ossClient(stack, { v4 });
      const body = Buffer.alloc(300 * 1024, 1);
      const result: any = await client.multipartUpload(`${prefix}multi.bin`, body, { partSize: 100 * 1024, meta: { m: 'v' } } as never);
      expect(result.res.status).toBe(200);
      const head: any = await client.head(`${prefix}multi.bin`);
      expect(head.res.headers.etag).toMatch(/^"[0-9A-F]{32}-3"$/);
      expect(head.meta).toEqual({ m: 'v' });
      expect((await client.get(`${prefix}multi.bin`)).content.equals(body)).toBe(true);
    });

    it('copies parts from another object (UploadPartCopy): a byte range, If-Match on the source, 412 when it changed', async () => {
      const client: any = ossClient(stack, { v4 });
      const source = Buffer.alloc(300 * 1024);
      for (let i = 0; i < source.length; i++) source[i] = (i * 31) & 0xff;
      const put = await client.put(`${prefix}copy source/a+b.bin`, source);
      const etag = put.res.headers.etag.replace(/"/g, '');
      const init = await client.initMultipartUpload(`${prefix}copied.bin`);
      const from = { sourceKey: `${prefix}copy source/a+b.bin`, sourceBucketName: 'ens-images' };
      const ifMatch = (e: string) => ({ headers: { 'x-oss-copy-source-if-match': `"${e}"` } });
      const p1 = await client.uploadPartCopy(`${prefix}copied.bin`, init.uploadId, 1, '102400-307199', from, ifMatch(etag));
      const p2 = await client.uploadPartCopy(`${prefix}copied.bin`, init.uploadId, 2, '0-99', from);
      await expect(
        client.uploadPartCopy(`${prefix}copied.bin`, init.uploadId, 3, '0-99', from, ifMatch('0'.repeat(32))),
      ).rejects.toMatchObject({ code: 'PreconditionFailed', status: 412 });
      await expect(client.uploadPartCopy(`${prefix}copied.bin`, init.uploadId, 3, '0-307200', from)).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
      await expect(
        client.uploadPartCopy(`${prefix}copied.bin`, init.uploadId, 3, '0-99', { ...from, sourceKey: `${prefix}absent` }),
      ).rejects.toMatchObject({ code: 'NoSuchKey' });
      expect(p1.etag).toMatch(/^"[0-9A-F]{32}"$/);
      await client.completeMultipartUpload(`${prefix}copied.bin`, init.uploadId, [
        { number: 1, etag: p1.etag },
        { number: 2, etag: p2.etag },
      ]);
      const got = (await client.get(`${prefix}copied.bin`)).content as Buffer;
      expect(got.equals(Buffer.concat([source.subarray(102400), source.subarray(0, 100)]))).toBe(true);
      expect(stack.oss.requestLog.filter((r) => r.operation === 'UploadPartCopy').length).toBeGreaterThanOrEqual(2);
    });

    it('aborts a multipart upload', async () => {
      const client = ossClient(stack, { v4 });
      const init: any = await client.initMultipartUpload(`${prefix}aborted`);
      await client.abortMultipartUpload(`${prefix}aborted`, init.uploadId);
      await expect(client.abortMultipartUpload(`${prefix}aborted`, init.uploadId)).rejects.toMatchObject({ code: 'NoSuchUpload' });
    });

    it('refuses a wrong secret, an unknown key and a wrong STS token', async () => {
      const wrongSecret = ossClient(stack, { v4, key: { ...stack.credentials, accessKeySecret: 'wrong' } });
      await expect(wrongSecret.put(`${prefix}x`, Buffer.from('x'))).rejects.toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
      const unknown = ossClient(stack, { v4, key: { accessKeyId: 'LTAInobody', accessKeySecret: 's' } });
      await expect(unknown.get(`${prefix}x`)).rejects.toMatchObject({ status: 403, code: 'InvalidAccessKeyId' });
      const sts = stack.fc.credentialsFor('test-fn');
      await ossClient(stack, { v4, key: sts }).put(`${prefix}sts`, Buffer.from('ok'));
      const badToken = ossClient(stack, { v4, key: { ...sts, securityToken: 'CAISforged' } });
      await expect(badToken.get(`${prefix}sts`)).rejects.toMatchObject({ status: 403, code: 'AccessDenied' });
      const noToken = ossClient(stack, { v4, key: { accessKeyId: sts.accessKeyId, accessKeySecret: sts.accessKeySecret } });
      await expect(noToken.get(`${prefix}sts`)).rejects.toMatchObject({ status: 403 });
    });

    it('returns NoSuchBucket and refuses a bucket addressed in the wrong region', async () => {
      await expect(ossClient(stack, { v4, bucket: 'no-such-bucket' }).get('x')).rejects.toMatchObject({
        status: 404,
        code: 'NoSuchBucket',
      });
      await expect(ossClient(stack, { v4, bucket: 'hz-bucket' }).get('x')).rejects.toMatchObject({ status: 403, code: 'AccessDenied' });
    });
  });
}

describe('OSS stand-in details', () => {
  it('stores raw UTF-8 metadata bytes and returns them unchanged', async () => {
    const client = ossClient(stack);
    const raw = Buffer.from('镜像-名', 'utf8').toString('latin1');
    await client.put('meta/raw', Buffer.from('x'), { headers: { 'x-oss-meta-ens-image-name': raw } } as never);
    const got = await client.get('meta/raw', { headers: { Range: 'bytes=0-0' } } as never);
    expect(Buffer.from(got.res.headers['x-oss-meta-ens-image-name'] as string, 'latin1').toString('utf8')).toBe('镜像-名');
  });

  it('reports errors on HEAD in x-oss-err', async () => {
    const res = await fetch(`${stack.endpoints.oss}/ens-images/missing`, { method: 'HEAD' });
    expect(res.status).toBe(403);
    expect(Buffer.from(res.headers.get('x-oss-err') ?? '', 'base64').toString()).toContain('<Code>AccessDenied</Code>');
  });

  it('injects faults per operation: an error status, then a dropped connection', async () => {
    const client = ossClient(stack);
    await client.put('faults/x', Buffer.from('x'));
    stack.oss.faults.inject('GetObject', { status: 503, code: 'ServiceUnavailable', times: 1 });
    await expect(client.get('faults/x')).rejects.toMatchObject({ status: 503, code: 'ServiceUnavailable' });
    stack.oss.faults.inject('GetObject', { drop: true, times: 1 });
    await expect(client.get('faults/x')).rejects.toMatchObject({ status: -1 });
    expect((await client.get('faults/x')).content.toString()).toBe('x');
  });

  it('keeps object bodies in a data directory when asked, streaming a large multipart upload', async () => {
    const { mkdtempSync, readdirSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'oss-data-'));
    const disk = await startLocalStack({ sYaml: false, dataDir: dir });
    try {
      const client = ossClient(disk);
      const file = join(dir, 'upload.src');
      writeFileSync(file, Buffer.alloc(4 * 1024 * 1024, 3));
      await client.multipartUpload('big.qcow2', file, { partSize: 1024 * 1024 } as never);
      expect(readdirSync(dir).length).toBeGreaterThanOrEqual(4);
      const stored = disk.oss.peekObject(disk.bucket, 'big.qcow2')!;
      expect(stored.storage.every((kind) => kind === 'file')).toBe(true);
      expect(stored.size).toBe(4 * 1024 * 1024);
    } finally {
      await disk.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('OSS stand-in on a new account', () => {
  it('refuses a V1-signed request, as OSS does for accounts created since 2025-03-01', async () => {
    const fresh = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images' }] });
    try {
      await expect(ossClient(fresh, { v4: false }).put('v1/refused.txt', Buffer.from('x'))).rejects.toMatchObject({
        status: 403,
        code: 'AccessDenied',
      });
      expect((await ossClient(fresh, { v4: true }).put('v4/accepted.txt', Buffer.from('x'))).res.status).toBe(200);
    } finally {
      await fresh.stop();
    }
  });
});
