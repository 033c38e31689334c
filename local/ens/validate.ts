/** ImportImage's documented limits, as the ENS API applies them. */

export interface PopError {
  status: number;
  code: string;
  message: string;
}

const invalid = (field: string, detail: string): PopError => ({
  status: 400,
  code: `InvalidParameter.${field}`,
  message: `The specified field ${field} invalid. Please check it again. (${detail})`,
});
const missing = (field: string): PopError => ({
  status: 400,
  code: `MissingParameter.${field}`,
  message: `The input parameter "${field}" that is mandatory for processing this request is not supplied.`,
});

// The product checks names with its own code (shared/core/image-name.ts): an emulator must not share code with what it checks.
// "A letter" is an ASCII letter (the Chinese pages say 大小写字母); café or сервер are refused.
export const IMAGE_NAME_RULE = /^[A-Za-z\p{Script=Han}][A-Za-z\p{Script=Han}0-9:_-]{1,127}$/u;

export interface ImportValidationContext {
  allowedPlatforms: string[];
  objectExists(region: string, bucket: string, key: string): boolean;
}

export function validateImportImage(p: Record<string, string>, ctx: ImportValidationContext): PopError | undefined {
  for (const field of ['ImageName', 'ComputeType', 'OSType', 'ImageFormat', 'Architecture']) {
    if (p[field] === undefined || p[field] === '') return missing(field);
  }
  const name = p.ImageName!;
  if (/^https?:\/\//i.test(name) || !IMAGE_NAME_RULE.test(name)) {
    return invalid(
      'ImageName',
      'must be 2-128 characters, start with a letter or Chinese character, and contain only letters, digits, ":", "_" and "-"',
    );
  }
  if (p.ComputeType !== 'ens_vm') return invalid('ComputeType', 'only ens_vm');
  if (p.OSType !== 'linux' && p.OSType !== 'windows') return invalid('OSType', 'linux or windows');
  if (p.OSType !== 'linux') return invalid('OSType', 'only linux is supported');
  if (p.ImageFormat !== 'qcow2') return invalid('ImageFormat', 'only qcow2');
  if (p.Architecture !== 'x86_64') return invalid('Architecture', 'only x86_64');
  if (p.Platform !== undefined && !ctx.allowedPlatforms.includes(p.Platform)) {
    return invalid('Platform', ctx.allowedPlatforms.join(' | '));
  }
  if (p.OSSRegion !== undefined && p.OSSRegion !== 'cn-beijing') return invalid('OSSRegion', 'only cn-beijing');
  if (p.TargetOSSRegionId !== undefined && !['cn-beijing', 'ap-southeast-1'].includes(p.TargetOSSRegionId)) {
    return invalid('TargetOSSRegionId', 'cn-beijing or ap-southeast-1');
  }
  if (Object.keys(p).some((k) => k.startsWith('DiskDeviceMapping.'))) {
    return invalid('DiskDeviceMapping', 'must be one parameter holding a JSON array');
  }
  const sources: { OSSRegion?: string; OSSBucket?: string; OSSObject?: string }[] = [];
  if (p.DiskDeviceMapping !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(p.DiskDeviceMapping);
    } catch {
      return invalid('DiskDeviceMapping', 'not valid JSON');
    }
    if (!Array.isArray(parsed) || parsed.length === 0) return invalid('DiskDeviceMapping', 'must be a non-empty array');
    for (const disk of parsed) {
      if (!disk || typeof disk !== 'object') return invalid('DiskDeviceMapping', 'items must be objects');
      const d = disk as Record<string, unknown>;
      for (const k of Object.keys(d)) {
        if (!['OSSRegion', 'OSSBucket', 'OSSObject'].includes(k)) return invalid('DiskDeviceMapping', `unknown field ${k}`);
        if (typeof d[k] !== 'string') return invalid('DiskDeviceMapping', `${k} must be a string`);
      }
      if (d.OSSRegion !== undefined && d.OSSRegion !== 'cn-beijing') return invalid('DiskDeviceMapping', 'OSSRegion only cn-beijing');
      sources.push(d as never);
    }
  } else if (p.OSSObject !== undefined || p.OSSBucket !== undefined) {
    sources.push({ OSSRegion: p.OSSRegion, OSSBucket: p.OSSBucket, OSSObject: p.OSSObject });
  } else {
    return missing('OSSObject');
  }
  for (const s of sources) {
    if (!s.OSSBucket) return missing('OSSBucket');
    if (!s.OSSObject) return missing('OSSObject');
    if (!ctx.objectExists(s.OSSRegion ?? 'cn-beijing', s.OSSBucket, s.OSSObject)) {
      return invalid('OSSObject', `oss://${s.OSSBucket}/${s.OSSObject} does not exist in ${s.OSSRegion ?? 'cn-beijing'}`);
    }
  }
  return undefined;
}
