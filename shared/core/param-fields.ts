/** The ImportImage parameters the importer sets, and the names operators use for them. */

export const PARAM_FIELDS = [
  'imageName',
  'platform',
  'osVersion',
  'osType',
  'architecture',
  'computeType',
  'targetRegion',
  'licenseType',
] as const;
export type ParamField = (typeof PARAM_FIELDS)[number];

/** field → ImportImage parameter */
/** ImportImage's request, field by field as the API page lists them; every value a string on the wire. */
export type ImportImageRequest = Partial<
  Record<
    | 'ImageName'
    | 'ComputeType'
    | 'OSType'
    | 'ImageFormat'
    | 'Architecture'
    | 'Platform'
    | 'OSVersion'
    | 'OSSRegion'
    | 'OSSBucket'
    | 'OSSObject'
    | 'TargetOSSRegionId'
    | 'LicenseType'
    | 'DiskDeviceMapping',
    string
  >
>;

export const API_NAME: Record<ParamField, keyof ImportImageRequest> = {
  imageName: 'ImageName',
  platform: 'Platform',
  osVersion: 'OSVersion',
  osType: 'OSType',
  architecture: 'Architecture',
  computeType: 'ComputeType',
  targetRegion: 'TargetOSSRegionId',
  licenseType: 'LicenseType',
};

/** field → object metadata key (x-oss-meta-…) */
export const META_KEY: Record<ParamField, string> = {
  imageName: 'ens-image-name',
  platform: 'ens-platform',
  osVersion: 'ens-os-version',
  osType: 'ens-os-type',
  architecture: 'ens-architecture',
  computeType: 'ens-compute-type',
  targetRegion: 'ens-target-region',
  licenseType: 'ens-license-type',
};

export const BUILT_IN_DEFAULTS: Partial<Record<ParamField, string>> = {
  computeType: 'ens_vm',
  osType: 'linux',
  architecture: 'x86_64',
};

export type Provenance = 'metadata' | 'convention' | 'rule' | 'default' | 'event' | 'manifest';

export interface ProvenancedValue {
  value: string;
  source: Provenance;
  /** the value before it was made valid for ENS, when it was changed */
  original?: string;
}
