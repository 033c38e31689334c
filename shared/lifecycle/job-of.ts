import { CONVERTIBLE_SUFFIXES } from '../core/disk-format';

/**
 * Which job owns a version, for every path that starts or ends one (the on-failure function,
 * `retry`): the converter owns the suffixes it is triggered on and a `.img` the import handed
 * to it (its import record says `converting`); the import owns the rest. A conversion failure
 * is retried by the converter, never by the import.
 */
export type JobName = 'import' | 'conversion';

export function jobOfKey(key: string, importRecordState: string | undefined): JobName {
  const lower = key.toLowerCase();
  if (Object.keys(CONVERTIBLE_SUFFIXES).some((s) => lower.endsWith(s))) return 'conversion';
  return lower.endsWith('.img') && importRecordState === 'converting' ? 'conversion' : 'import';
}

/** Every suffix a deployment can watch, whichever function owns it: a sweep of failures covers them all. */
export const ALL_WATCHED_SUFFIXES: readonly string[] = ['.qcow2', '.img', '.ens-image.json', ...Object.keys(CONVERTIBLE_SUFFIXES)];
