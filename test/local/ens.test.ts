import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/index';
import { ENS_API_VERSION, rpcSignature } from '../../local/ens/server';
import { ensClient, ossClient } from '../helpers/clients';

let stack: LocalStack;
const base = {
  ComputeType: 'ens_vm',
  OSType: 'linux',
  ImageFormat: 'qcow2',
  Architecture: 'x86_64',
  Platform: 'ubuntu',
  OSVersion: '22.04',
  OSSRegion: 'cn-beijing',
  OSSBucket: 'ens-images',
  OSSObject: 'images/ubuntu/22.04/web.qcow2',
};
beforeAll(async () => {
  stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images' }] });
  await ossClient(stack).put(base.OSSObject, Buffer.from('QFI\xfb'));
});
afterAll(() => stack.stop());

describe('ENS stand-in with @alicloud/pop-core', () => {
  it('refuses ImageName=ubuntu-22.04 with InvalidParameter.ImageName and accepts ubuntu-22-04', async () => {
    const ens = ensClient(stack);
    await expect(ens.request('ImportImage', { ...base, ImageName: 'ubuntu-22.04' }, { method: 'POST' })).rejects.toMatchObject({
      code: 'InvalidParameter.ImageName',
    });
    const ok: any = await ens.request('ImportImage', { ...base, ImageName: 'ubuntu-22-04' }, { method: 'POST' });
    expect(ok.ImageId).toMatch(/^m-[a-z0-9]+$/);
    expect(ok.RequestId).toBeTruthy();
    const call = stack.ens.callsOf('ImportImage').at(-1)!;
    expect(call.params).toMatchObject({ ...base, ImageName: 'ubuntu-22-04' });
  });

  it('validates every documented ImportImage limit', async () => {
    const ens = ensClient(stack);
    const cases: [Record<string, string>, string][] = [
      [{ ImageName: '' }, 'MissingParameter.ImageName'],
      [{ ImageName: '1abc' }, 'InvalidParameter.ImageName'],
      [{ ImageName: 'a' }, 'InvalidParameter.ImageName'],
      [{ ImageName: 'a'.repeat(129) }, 'InvalidParameter.ImageName'],
      [{ ImageName: 'https://x' }, 'InvalidParameter.ImageName'],
      [{ ComputeType: 'ens' }, 'InvalidParameter.ComputeType'],
      [{ OSType: 'windows' }, 'InvalidParameter.OSType'],
      [{ ImageFormat: 'raw' }, 'InvalidParameter.ImageFormat'],
      [{ Architecture: 'arm64' }, 'InvalidParameter.Architecture'],
      [{ Platform: 'gentoo' }, 'InvalidParameter.Platform'],
      [{ OSSRegion: 'cn-hangzhou' }, 'InvalidParameter.OSSRegion'],
      [{ TargetOSSRegionId: 'us-west-1' }, 'InvalidParameter.TargetOSSRegionId'],
      [{ OSSObject: 'images/missing.qcow2' }, 'InvalidParameter.OSSObject'],
      [{ DiskDeviceMapping: 'not json' }, 'InvalidParameter.DiskDeviceMapping'],
    ];
    for (const [override, code] of cases) {
      await expect(ens.request('ImportImage', { ...base, ImageName: 'img', ...override }, { method: 'POST' }), code).rejects.toMatchObject({
        code,
      });
    }
    // pop-core flattens a JS array; ENS wants one JSON string.
    await expect(
      ens.request(
        'ImportImage',
        { ...base, ImageName: 'img', DiskDeviceMapping: [{ OSSBucket: 'ens-images', OSSObject: base.OSSObject }] },
        { method: 'POST' },
      ),
    ).rejects.toMatchObject({ code: 'InvalidParameter.DiskDeviceMapping' });
    const ok: any = await ens.request(
      'ImportImage',
      {
        ...base,
        ImageName: '中文镜像_v1:2',
        DiskDeviceMapping: JSON.stringify([{ OSSRegion: 'cn-beijing', OSSBucket: 'ens-images', OSSObject: base.OSSObject }]),
      },
      { method: 'POST' },
    );
    expect(ok.ImageId).toMatch(/^m-/);
  });

  it('answers GET requests too, and refuses a replayed nonce, a stale timestamp and a wrong secret', async () => {
    const key = stack.credentials;
    const params: Record<string, string> = {
      Action: 'DescribeSelfImages',
      Format: 'JSON',
      Version: ENS_API_VERSION,
      AccessKeyId: key.accessKeyId,
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: 'nonce-1',
      Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    const signed = (p: Record<string, string>, secret = key.accessKeySecret) =>
      `${stack.endpoints.ens}/?${new URLSearchParams({ ...p, Signature: rpcSignature('GET', p, secret) })}`;
    const first = await fetch(signed(params));
    expect(first.status).toBe(200);
    expect(((await first.json()) as any).Code).toBe(0);
    const replay = await fetch(signed(params));
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as any).Code).toBe('SignatureNonceUsed');
    const stale = {
      ...params,
      SignatureNonce: 'nonce-2',
      Timestamp: new Date(Date.now() - 20 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    expect(((await (await fetch(signed(stale))).json()) as any).Code).toBe('InvalidTimeStamp.Expired');
    const wrong = await fetch(signed({ ...params, SignatureNonce: 'nonce-3' }, 'nope'));
    expect(((await wrong.json()) as any).Code).toBe('SignatureDoesNotMatch');
  });

  it('refuses a wrong secret and a wrong STS token through pop-core, accepts the right STS keys', async () => {
    await expect(
      ensClient(stack, { ...stack.credentials, accessKeySecret: 'bad' }).request('DescribeSelfImages', {}, { method: 'POST' }),
    ).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    const sts = stack.fc.credentialsFor('fn');
    await expect(ensClient(stack, sts).request('DescribeSelfImages', {}, { method: 'POST' })).resolves.toMatchObject({ Code: 0 });
    await expect(
      ensClient(stack, { ...sts, securityToken: 'CAISforged' }).request('DescribeSelfImages', {}, { method: 'POST' }),
    ).rejects.toMatchObject({ code: 'InvalidSecurityToken.MismatchWithAccessKey' });
  });

  it('moves images Creating → Packing → Uploading → Available on its clock, pages, and fails on request', async () => {
    const ens = ensClient(stack);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(((await ens.request('ImportImage', { ...base, ImageName: `clock-${i}` }, { method: 'POST' })) as any).ImageId);
    }
    const status = async (id: string) =>
      ((await ens.request('DescribeSelfImages', { ImageId: id }, { method: 'POST' })) as any).Images.Image[0].Status;
    expect(await status(ids[0]!)).toBe('Creating');
    stack.ens.clock.advance(61_000);
    expect(await status(ids[0]!)).toBe('Packing');
    stack.ens.failImage(ids[1]!, 'Pack_failed');
    stack.ens.clock.advance(120_000);
    expect(await status(ids[0]!)).toBe('Uploading');
    stack.ens.clock.advance(120_000);
    expect(await status(ids[0]!)).toBe('Available');
    expect(await status(ids[1]!)).toBe('Pack_failed');
    const page: any = await ens.request('DescribeSelfImages', { ImageName: 'clock-', PageSize: 2, PageNumber: 2 }, { method: 'POST' });
    // the real API answers its paging fields as strings
    expect(page).toMatchObject({ Code: 0, TotalCount: '3', PageNumber: '2', PageSize: '2' });
    expect(page.Images.Image).toHaveLength(1);
    await expect(ens.request('DescribeSelfImages', { PageSize: 51 }, { method: 'POST' })).rejects.toMatchObject({
      code: 'InvalidParameter.PageSize',
    });
    await ens.request('DeleteImage', { ImageId: ids[2] }, { method: 'POST' });
    expect(((await ens.request('DescribeSelfImages', { ImageId: ids[2] }, { method: 'POST' })) as any).TotalCount).toBe('0');
  });

  it('rate-limits per action with Throttling.User and injects 500, 503, a non-JSON 502 and slow answers', async () => {
    const ens = ensClient(stack);
    stack.ens.rateLimits.DescribeSelfImages = 2;
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => ens.request('DescribeSelfImages', {}, { method: 'POST' })));
    expect(results.some((r) => r.status === 'rejected' && (r.reason as any).code === 'Throttling.User')).toBe(true);
    delete stack.ens.rateLimits.DescribeSelfImages;
    stack.ens.faults.inject('DescribeSelfImages', { status: 500, code: 'InternalError', times: 1 });
    await expect(ens.request('DescribeSelfImages', {}, { method: 'POST' })).rejects.toMatchObject({ code: 'InternalError' });
    stack.ens.faults.inject('DescribeSelfImages', { status: 503, code: 'ServiceUnavailable', times: 1 });
    await expect(ens.request('DescribeSelfImages', {}, { method: 'POST' })).rejects.toMatchObject({ code: 'ServiceUnavailable' });
    stack.ens.faults.inject('DescribeSelfImages', { status: 502, html: true, times: 1 });
    await expect(ens.request('DescribeSelfImages', {}, { method: 'POST' })).rejects.toMatchObject({ name: 'SyntaxError' });
    stack.ens.faults.inject('DescribeSelfImages', { latencyMs: 400, times: 1 });
    await expect(ens.request('DescribeSelfImages', {}, { method: 'POST', timeout: 100 })).rejects.toThrow(/timeout/i);
    expect(stack.ens.calls.length).toBeGreaterThan(10);
  });
});
