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
