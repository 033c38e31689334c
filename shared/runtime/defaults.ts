/**
 * Every setting, its default and its unit, in one place (a module of its own: the CLI's options
 * show them without loading the rules parser). The import function, the tracker
 * and the CLI all read the environment through `envReader`; nothing else reads process.env.
 */
export const DEFAULTS = {
  statePrefix: '.ens-importer/',
  /** the triggers' prefix (s.yaml vars.prefix): a manifest's disks must be under it */
  watchedPrefix: 'images/',
  ensEndpoint: 'https://ens.aliyuncs.com',
  /** the qcow2 header plus the ISO signature at 0x9001 */
  headerBytes: 64 * 1024,
  /** kept in hand before FC's timeout */
  safetyMarginMs: 5_000,
  ensTimeoutMs: 30_000,
  /** ImportImage calls per invocation at most: an ENS outage is left to FC's retry and its back-off */
  ensMaxAttempts: 4,
  manifestWaitMinutes: 60,
  importTimeoutHours: 6,
  missingGraceMinutes: 10,
  /** DescribeSelfImages' largest page */
  describePageSize: 50,
  /** finished imports the tracker writes at once */
  trackerApplyConcurrency: 8,
  /** the tracker stops starting work this long before FC's timeout */
  trackerMarginMs: 10_000,
  /** FC's default when the context does not say */
  functionTimeoutSeconds: 60,
} as const;
