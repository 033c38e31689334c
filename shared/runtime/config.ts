import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_OUTPUT_TEMPLATE, outputTemplateProblem } from '../core/conversion';
import { builtInRules, parseRules, type Rules } from '../core/rules';
import { NotifyConfigError, resolveNotifyTarget, type NotifyTarget } from '../core/notification';
import { stateKeysFrom, type StateKeys } from '../core/state-mac';
import { DEFAULTS } from './defaults';

export { DEFAULTS } from './defaults';

/** The converter's settings (read once per instance). */
export interface ConverterConfig {
  statePrefix: string;
  watchedPrefix: string;
  /** where a source's qcow2 goes: `{dir}{name}.qcow2` by default */
  outputTemplate: string;
  /** the rules file's limits.maxVirtualSizeGiB, in bytes */
  maxVirtualBytes: number;
  /** stop converting this long before the deadline, to abort and say why */
  marginMs: number;
  /** ranged GETs and part uploads in flight at once (IMPORTER_CONVERT_STREAMS) */
  streams: number;
  /** the guest MB/s one instance converts at, measured (IMPORTER_CONVERT_RATE_MBPS): a disk that cannot finish is refused at once */
  rateMBps: number;
  /** fan-out (IMPORTER_FANOUT_*): a source of at least `minBytes` (0: never) is split into guest ranges for other instances */
  fanOut: { minBytes: number; workers: number; rangeBytes: number; pollMs: number };
  /** where this function invokes itself for fan-out workers (IMPORTER_FC_ENDPOINT; unset: FC's own) */
  fcEndpoint?: string;
  ossEndpoint?: string;
  /** the HMAC keys of what the functions write under the state prefix */
  stateKeys?: StateKeys;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** One parser for the environment; every error names the variable and the unit. */
export function envReader(env: NodeJS.ProcessEnv) {
  const raw = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  return {
    string: (name: string, fallback?: string): string | undefined => raw(name) ?? fallback,
    bool(name: string): boolean {
      const v = raw(name);
      if (v === undefined) return false;
      if (/^(true|1|yes)$/i.test(v)) return true;
      if (/^(false|0|no)$/i.test(v)) return false;
      throw new ConfigError(`${name} must be true or false, not "${v}"`);
    },
    positive(name: string, fallback: number, unit: string): number {
      const v = raw(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name} must be a positive number of ${unit}, not "${v}"`);
      return n;
    },
    nonNegative(name: string, fallback: number, unit: string): number {
      const v = raw(name);
      if (v === undefined) return fallback;
      // "20 instances": s.yaml writes a number var with its unit so that FC gets a string
      const n = Number(v.endsWith(` ${unit}`) ? v.slice(0, -unit.length - 1) : v);
      if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a number of ${unit}, 0 or more, not "${v}"`);
      return n;
    },
  };
}

/** The import function's settings, read once per instance. */
export interface ImporterConfig {
  ensEndpoint: string;
  /** unset: derived from the event's region (`https://oss-<region>-internal.aliyuncs.com`) */
  ossEndpoint?: string;
  statePrefix: string;
  /** a manifest may name disks only under this prefix */
  watchedPrefix: string;
  dryRun: boolean;
  rules: Rules;
  rulesSource: string;
  /** where notices go (importer.yaml notify:, its env: references resolved and checked) */
  notify?: NotifyTarget;
  /** the HMAC keys of what the functions write under the state prefix (unset: unauthenticated) */
  stateKeys?: StateKeys;
  headerBytes: number;
  safetyMarginMs: number;
  ensTimeoutMs: number;
  ensMaxAttempts: number;
  /** ImportImage calls per second the function may make in all (ENS's limit for the account); 0: unpaced */
  ensImportQps: number;
  /** the function's instances at most (s.yaml concurrencyConfig.reservedConcurrency) */
  instances: number;
  manifestWaitMs: number;
  /** the converter a `.img` that is not qcow2 is handed to; unset: such an upload is rejected with advice */
  converterFunction?: string;
  /** FC's endpoint for that hand-off; unset: the account's regional endpoint */
  fcEndpoint?: string;
  /** the converter's output template (IMPORTER_CONVERT_OUTPUT): the on-failure function ends conversions too */
  convertOutput?: string;
}

/** The rules file: IMPORTER_RULES (relative to `baseDir`), else importer.yaml beside it, else built in. */
export function loadRules(path: string | undefined, baseDir: string): { rules: Rules; rulesSource: string } {
  const file = path ? (isAbsolute(path) ? path : join(baseDir, path)) : join(baseDir, 'importer.yaml');
  if (existsSync(file)) return { rules: parseRules(readFileSync(file, 'utf8'), file), rulesSource: file };
  if (path) throw new ConfigError(`IMPORTER_RULES names ${file}, which does not exist`);
  return { rules: builtInRules(), rulesSource: 'built-in default' };
}

function statePrefixFrom(env: ReturnType<typeof envReader>): string {
  const statePrefix = env.string('IMPORTER_STATE_PREFIX', DEFAULTS.statePrefix)!;
  if (!statePrefix.endsWith('/')) throw new ConfigError(`IMPORTER_STATE_PREFIX must end with "/" (got "${statePrefix}")`);
  return statePrefix;
}

function ensEndpointFrom(env: ReturnType<typeof envReader>): string {
  const ensEndpoint = env.string('ENS_ENDPOINT', DEFAULTS.ensEndpoint)!;
  if (!/^https?:\/\//.test(ensEndpoint)) throw new ConfigError(`ENS_ENDPOINT must start with http:// or https:// (got "${ensEndpoint}")`);
  return ensEndpoint;
}

/** notify: checked with the rules, so a bad URL or secret fails the first invocation, not a send */
function notifyTargetOf(rules: Rules, environment: NodeJS.ProcessEnv): NotifyTarget | undefined {
  try {
    return resolveNotifyTarget(rules.notify, environment);
  } catch (err) {
    if (err instanceof NotifyConfigError) throw new ConfigError(`importer.yaml ${err.message}`);
    throw err;
  }
}

export function stateKeysOf(environment: NodeJS.ProcessEnv): StateKeys | undefined {
  try {
    return stateKeysFrom(environment);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

export function readImportConfig(environment: NodeJS.ProcessEnv, handlerDir: string): ImporterConfig {
  const env = envReader(environment);
  const loaded = loadRules(env.string('IMPORTER_RULES'), handlerDir);
  return {
    ensEndpoint: ensEndpointFrom(env),
    ossEndpoint: env.string('OSS_ENDPOINT'),
    statePrefix: statePrefixFrom(env),
    watchedPrefix: env.string('IMPORTER_WATCHED_PREFIX', DEFAULTS.watchedPrefix)!,
    dryRun: env.bool('IMPORTER_DRY_RUN'),
    ...loaded,
    notify: notifyTargetOf(loaded.rules, environment),
    stateKeys: stateKeysOf(environment),
    headerBytes: DEFAULTS.headerBytes,
    safetyMarginMs: DEFAULTS.safetyMarginMs,
    ensTimeoutMs: env.positive('IMPORTER_ENS_TIMEOUT_MS', DEFAULTS.ensTimeoutMs, 'milliseconds'),
    ensMaxAttempts: Math.floor(env.positive('IMPORTER_ENS_MAX_ATTEMPTS', DEFAULTS.ensMaxAttempts, 'calls')),
    ensImportQps: env.nonNegative('IMPORTER_ENS_IMPORT_QPS', 0, 'calls per second'),
    instances: Math.floor(env.nonNegative('IMPORTER_INSTANCES', 0, 'instances')),
    manifestWaitMs: env.positive('IMPORTER_MANIFEST_WAIT_MINUTES', DEFAULTS.manifestWaitMinutes, 'minutes') * 60_000,
    converterFunction: env.string('IMPORTER_CONVERTER_FUNCTION'),
    fcEndpoint: env.string('IMPORTER_FC_ENDPOINT'),
    convertOutput: env.string('IMPORTER_CONVERT_OUTPUT'),
  };
}

/** The tracker's settings. */
export interface TrackConfig {
  bucket: string;
  region: string;
  ossEndpoint?: string;
  ensEndpoint: string;
  statePrefix: string;
  importTimeoutMs: number;
  missingGraceMs: number;
  pageSize: number;
  applyConcurrency: number;
}

export function readTrackConfig(environment: NodeJS.ProcessEnv, contextRegion: string | undefined): TrackConfig {
  const env = envReader(environment);
  const bucket = env.string('IMPORTER_BUCKET');
  if (!bucket) throw new ConfigError('IMPORTER_BUCKET is not set: the tracker needs the bucket that holds the import records');
  return {
    bucket,
    region: env.string('IMPORTER_BUCKET_REGION') ?? contextRegion ?? env.string('FC_REGION') ?? 'cn-beijing',
    ossEndpoint: env.string('OSS_ENDPOINT'),
    ensEndpoint: ensEndpointFrom(env),
    statePrefix: statePrefixFrom(env),
    importTimeoutMs: env.nonNegative('IMPORTER_IMPORT_TIMEOUT_HOURS', DEFAULTS.importTimeoutHours, 'hours') * 3_600_000,
    missingGraceMs: env.nonNegative('IMPORTER_MISSING_GRACE_MINUTES', DEFAULTS.missingGraceMinutes, 'minutes') * 60_000,
    pageSize: DEFAULTS.describePageSize,
    applyConcurrency: env.positive('IMPORTER_TRACKER_CONCURRENCY', DEFAULTS.trackerApplyConcurrency, 'objects at once'),
  };
}

/** The converter's settings: where outputs go, and the rules file's size limit. */
export function readConverterConfig(environment: NodeJS.ProcessEnv, handlerDir: string): ConverterConfig {
  const env = envReader(environment);
  const watchedPrefix = env.string('IMPORTER_WATCHED_PREFIX', DEFAULTS.watchedPrefix)!;
  const outputTemplate = env.string('IMPORTER_CONVERT_OUTPUT', DEFAULT_OUTPUT_TEMPLATE)!;
  const problem = outputTemplateProblem(outputTemplate, watchedPrefix);
  if (problem) throw new ConfigError(`IMPORTER_CONVERT_OUTPUT "${outputTemplate}": ${problem}`);
  const { rules } = loadRules(env.string('IMPORTER_RULES'), handlerDir);
  return {
    statePrefix: statePrefixFrom(env),
    watchedPrefix,
    outputTemplate,
    maxVirtualBytes: Math.floor(rules.limits.maxVirtualSizeGiB * 2 ** 30),
    marginMs: env.positive('IMPORTER_CONVERT_MARGIN_SECONDS', 20, 'seconds') * 1000,
    streams: Math.max(1, Math.floor(env.positive('IMPORTER_CONVERT_STREAMS', 2, 'requests in flight'))),
    rateMBps: env.positive('IMPORTER_CONVERT_RATE_MBPS', 60, 'MB/s'),
    fanOut: {
      minBytes: Math.floor(env.nonNegative('IMPORTER_FANOUT_MIB', 16_384, 'MiB') * 2 ** 20),
      workers: Math.max(1, Math.floor(env.positive('IMPORTER_FANOUT_WORKERS', 16, 'instances'))),
      // 0: the guest divided by the workers, rounded up to 512 MiB (one L2 table's span, any format's block); else whole clusters
      rangeBytes: Math.floor((env.nonNegative('IMPORTER_FANOUT_RANGE_MIB', 0, 'MiB') * 2 ** 20) / 65_536) * 65_536,
      pollMs: env.positive('IMPORTER_FANOUT_POLL_MS', 2000, 'milliseconds'),
    },
    fcEndpoint: env.string('IMPORTER_FC_ENDPOINT'),
    ossEndpoint: env.string('OSS_ENDPOINT'),
    stateKeys: stateKeysOf(environment),
  };
}
