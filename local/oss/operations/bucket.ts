import { readBody } from '../../http';
import { OssError } from '../errors';
import type { OssAnswer, OssRequest } from '../request';
import type { Bucket } from '../store';

/** GetBucketVersioning / PutBucketVersioning. Once enabled, versioning can only be suspended. */

export function getVersioning(bucket: Bucket): OssAnswer {
  return { status: 200, xml: { root: 'VersioningConfiguration', body: bucket.versioning ? { Status: bucket.versioning } : {} } };
}

export async function putVersioning(bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const xml = (await readBody(req.body, 64 * 1024)).toString('utf8');
  const status = /<Status>(Enabled|Suspended)<\/Status>/.exec(xml)?.[1] as 'Enabled' | 'Suspended' | undefined;
  if (!status) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
  bucket.versioning = status;
  return { status: 200 };
}

/** GetBucketPolicy / PutBucketPolicy / DeleteBucketPolicy: the policy is JSON, kept as sent. */
export function getPolicy(bucket: Bucket): OssAnswer {
  if (!bucket.policy) throw new OssError(404, 'NoSuchBucketPolicy', 'The bucket policy does not exist.');
  return { status: 200, json: bucket.policy };
}

export async function putPolicy(bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const text = (await readBody(req.body, 16 * 1024)).toString('utf8');
  try {
    JSON.parse(text);
  } catch {
    throw new OssError(
      400,
      'InvalidPolicyDocument',
      'The content of the form does not meet the conditions specified in the policy document.',
    );
  }
  bucket.policy = text;
  return { status: 200 };
}

export function deletePolicy(bucket: Bucket): OssAnswer {
  bucket.policy = undefined;
  return { status: 204 };
}
