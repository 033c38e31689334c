import type { CredentialStore } from '../credentials';
import { OssError } from './errors';
import type { OssRequest } from './request';
import { parseAuthorization, verifySignature } from './signature';

/**
 * Check the request's key, token and signature as OSS does; return the AccessKeyId. A V4
 * signature's region, or the endpoint's, must be the bucket's.
 */
export function authenticate(
  req: OssRequest,
  credentials: CredentialStore,
  bucketRegion: (name: string | undefined) => string,
  allowV1: boolean,
): string {
  const auth = parseAuthorization(req.headers.authorization);
  if (!auth) throw new OssError(403, 'AccessDenied', 'You have no right to access this object because of bucket acl.');
  // OSS refuses V1 signatures for accounts created since 2025-03-01 and buckets created since
  // 2025-09-01 (vendor guide on upgrading to V4). The wording of the refusal is ours.
  if (auth.version !== 4 && !allowV1) {
    throw new OssError(
      403,
      'AccessDenied',
      'This bucket accepts only V4 signatures (OSS4-HMAC-SHA256); requests signed with signature version 1 are refused.',
    );
  }
  const check = credentials.check(auth.accessKeyId, req.headers['x-oss-security-token'] as string | undefined);
  if (!check.ok) {
    if (check.reason === 'unknown-key') {
      const message = 'The OSS Access Key Id you provided does not exist in our records.';
      throw new OssError(403, 'InvalidAccessKeyId', message, { OSSAccessKeyId: auth.accessKeyId });
    }
    throw new OssError(403, 'AccessDenied', 'The security token you provided is invalid.');
  }
  const signed = { method: req.method, headers: req.headers, query: [...req.query.entries()], bucket: req.bucketName, key: req.key };
  if (!verifySignature(signed, auth, check.key.accessKeySecret)) {
    const message = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    throw new OssError(403, 'SignatureDoesNotMatch', message, { OSSAccessKeyId: auth.accessKeyId });
  }
  const region = bucketRegion(req.bucketName);
  const addressed = auth.version === 4 ? auth.region : req.hostRegion;
  if (addressed && addressed !== region) {
    const message =
      'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.';
    throw new OssError(403, 'AccessDenied', message, { Endpoint: `oss-${region}.aliyuncs.com` });
  }
  return auth.accessKeyId;
}
