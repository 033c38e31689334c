import type { IncomingHttpHeaders } from 'node:http';
import { OssError } from './errors';

export interface Route {
  operation: string;
  bucketName?: string;
  key: string;
  /** the region named by a virtual-host endpoint (`<bucket>.oss-<region>.aliyuncs.com`) */
  hostRegion?: string;
}

/** Bucket from the Host's first label (virtual host) or from the path (IP / localhost); then the operation (pure). */
export function routeRequest(method: string, headers: IncomingHttpHeaders, pathname: string, query: URLSearchParams): Route {
  const host = (headers.host ?? '').replace(/:\d+$/, '');
  const pathStyle = host === 'localhost' || /^[\d.]+$/.test(host) || host.startsWith('[');
  let bucketName: string | undefined;
  let hostRegion: string | undefined;
  let path = pathname;
  if (pathStyle) {
    const m = /^\/([^/]+)\/?(.*)$/s.exec(path);
    bucketName = m?.[1];
    path = m?.[2] ?? '';
  } else {
    const labels = host.split('.');
    bucketName = labels[0];
    hostRegion = /^oss-([a-z0-9-]+?)(-internal)?$/.exec(labels[1] ?? '')?.[1];
    path = path.replace(/^\//, '');
  }
  let key: string;
  try {
    key = decodeURIComponent(path);
  } catch {
    throw new OssError(400, 'InvalidObjectName', 'The object name is not valid.');
  }
  return { operation: operationOf(method, headers, key, query), bucketName, key, hostRegion };
}

function operationOf(m: string, headers: IncomingHttpHeaders, key: string, q: URLSearchParams): string {
  if (!key) {
    if (q.has('versioning')) return m === 'PUT' ? 'PutBucketVersioning' : 'GetBucketVersioning';
    if (q.has('delete') && m === 'POST') return 'DeleteMultipleObjects';
    if (q.has('uploads') && m === 'GET') return 'ListMultipartUploads';
    if (q.has('policy')) return { PUT: 'PutBucketPolicy', GET: 'GetBucketPolicy', DELETE: 'DeleteBucketPolicy' }[m] ?? 'Unknown';
    if (m === 'GET') return q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    return `${m}Bucket`;
  }
  if (q.has('tagging')) return { PUT: 'PutObjectTagging', GET: 'GetObjectTagging', DELETE: 'DeleteObjectTagging' }[m] ?? 'Unknown';
  if (q.has('uploads') && m === 'POST') return 'InitiateMultipartUpload';
  if (q.has('uploadId') && m === 'PUT' && headers['x-oss-copy-source']) return 'UploadPartCopy';
  if (q.has('uploadId'))
    return { PUT: 'UploadPart', POST: 'CompleteMultipartUpload', DELETE: 'AbortMultipartUpload', GET: 'ListParts' }[m] ?? 'Unknown';
  if (m === 'PUT') return headers['x-oss-copy-source'] ? 'CopyObject' : 'PutObject';
  return { GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[m] ?? 'Unknown';
}
