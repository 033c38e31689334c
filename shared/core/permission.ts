/**
 * RAM refusals: the operator's to fix (a policy), never the upload's fault, and no retry
 * in seconds helps. Each names the action the role lacks so the log says what to grant.
 */

/** The RAM action behind each OSS operation the importer makes (HeadObject is authorised as GetObject). */
export const OSS_RAM_ACTION: Readonly<Record<string, string>> = {
  GetObject: 'oss:GetObject',
  HeadObject: 'oss:GetObject',
  GetObjectTagging: 'oss:GetObjectTagging',
  PutObjectTagging: 'oss:PutObjectTagging',
  PutObject: 'oss:PutObject',
  DeleteObject: 'oss:DeleteObject',
  DeleteMultipleObjects: 'oss:DeleteObject',
  ListObjectsV2: 'oss:ListObjects',
  GetBucketVersioning: 'oss:GetBucketVersioning',
  InitiateMultipartUpload: 'oss:PutObject',
  UploadPart: 'oss:PutObject',
  CompleteMultipartUpload: 'oss:PutObject',
  AbortMultipartUpload: 'oss:AbortMultipartUpload',
  ListMultipartUploads: 'oss:ListMultipartUploads',
};

/** OSS answers 403 AccessDenied; POP APIs answer Forbidden.RAM, NoPermission or Forbidden.* */
const PERMISSION_CODE = /^(AccessDenied|Forbidden|NoPermission)/;

export function isPermissionCode(code: string | undefined): boolean {
  return code !== undefined && PERMISSION_CODE.test(code);
}

/** Every action the functions' role needs, as deploy/ram/function-policy.json grants them. */
export const FUNCTION_ACTIONS = [
  'oss:GetObject',
  'oss:GetObjectTagging',
  'oss:PutObjectTagging',
  'oss:PutObject',
  'oss:DeleteObject',
  'oss:GetBucketVersioning',
  'oss:ListObjects',
  'ens:ImportImage',
  'ens:DescribeSelfImages',
  // the tracker deletes superseded versions' images (previous: delete-after-available)
  'ens:DeleteImage',
] as const;

/** Every action the converter's own role needs, as deploy/ram/converter-policy.json grants them. */
export const CONVERTER_ACTIONS = [
  'oss:GetObject',
  'oss:GetObjectTagging',
  'oss:PutObjectTagging',
  'oss:PutObject',
  'oss:AbortMultipartUpload',
  'oss:DeleteObject',
  'oss:ListMultipartUploads',
  'oss:GetBucketVersioning',
  'fc:InvokeFunction',
] as const;
