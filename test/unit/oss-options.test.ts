import OSS from 'ali-oss';
import { describe, expect, it } from 'vitest';
import { ossClientOptions } from '../../shared/adapters/oss';

const credentials = { accessKeyId: 'LTAIexample', accessKeySecret: 'secret' };

describe('the OSS client the importer builds', () => {
  it('signs with V4 everywhere', () => {
    for (const t of [{ internal: true }, { internal: false }, { endpoint: 'http://127.0.0.1:1' }]) {
      expect(ossClientOptions({ region: 'cn-beijing', bucket: 'b', credentials, ...t })).toMatchObject({
        authorizationV4: true,
        region: 'oss-cn-beijing',
      });
    }
  });

  it("uses the public endpoint from an operator's laptop and the internal one in the functions", () => {
    // ali-oss resolves the host itself: read it from a client built with these options
    const host = (internal: boolean) =>
      (new OSS(ossClientOptions({ region: 'cn-beijing', bucket: 'ens-images', credentials, internal })) as any).options.endpoint.host;
    expect(host(false)).toBe('oss-cn-beijing.aliyuncs.com');
    expect(host(true)).toBe('oss-cn-beijing-internal.aliyuncs.com');
  });
});
