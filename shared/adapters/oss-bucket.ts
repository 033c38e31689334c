import { clientFor, toOssError, type OssTarget } from './oss';

/** Bucket-level reads `ens-importer doctor` makes (the functions need none of them). */

/** The bucket's policy document, or undefined when it has none (NoSuchBucketPolicy). */
export async function readBucketPolicy(t: OssTarget): Promise<unknown | undefined> {
  const client = clientFor(t) as unknown as { getBucketPolicy(name: string): Promise<{ policy: unknown }> };
  try {
    return (await client.getBucketPolicy(t.bucket)).policy ?? undefined;
  } catch (err) {
    if ((err as { code?: string }).code === 'NoSuchBucketPolicy') return undefined;
    throw toOssError(err, [t.credentials.accessKeySecret, t.credentials.securityToken]);
  }
}
