import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_RULES, parseRules, type Rules } from './rules';

/** The importer's settings, read from the function's environment once per instance. */
export interface ImporterConfig {
  ensEndpoint: string;
  /** unset: derived from the event's region (`https://oss-<region>-internal.aliyuncs.com`) */
  ossEndpoint?: string;
  statePrefix: string;
  dryRun: boolean;
  rules: Rules;
  rulesSource: string;
  /** bytes read from the start of each object (header + other-format signatures) */
  headerBytes: number;
  /** time kept in hand before the function's timeout */
  safetyMarginMs: number;
  /** longest wait for one ENS answer */
  ensTimeoutMs: number;
  /** how long a manifest waits for its disks before it is rejected */
  manifestWaitMs: number;
}

export class ConfigError extends Error {}

const bool = (v: string | undefined, name: string): boolean => {
  if (v === undefined || v === '') return false;
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false, not "${v}"`);
};

const positiveMs = (v: string | undefined, fallback: number, name: string): number => {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name} must be a positive number of milliseconds, not "${v}"`);
  return n;
};

export function loadConfig(env: NodeJS.ProcessEnv, handlerDir: string): ImporterConfig {
  const statePrefix = env.IMPORTER_STATE_PREFIX || '.ens-importer/';
  if (!statePrefix.endsWith('/')) throw new ConfigError(`IMPORTER_STATE_PREFIX must end with "/" (got "${statePrefix}")`);
  const ensEndpoint = env.ENS_ENDPOINT || 'https://ens.aliyuncs.com';
  if (!/^https?:\/\//.test(ensEndpoint)) throw new ConfigError(`ENS_ENDPOINT must start with http:// or https:// (got "${ensEndpoint}")`);
  const rulesPath = env.IMPORTER_RULES
    ? env.IMPORTER_RULES.startsWith('/')
      ? env.IMPORTER_RULES
      : `${handlerDir}/${env.IMPORTER_RULES}`
    : `${handlerDir}/importer.yaml`;
  let rules = DEFAULT_RULES;
  let rulesSource = 'built-in default';
  if (existsSync(rulesPath)) {
    rules = parseRules(readFileSync(rulesPath, 'utf8'), rulesPath);
    rulesSource = rulesPath;
  } else if (env.IMPORTER_RULES) {
    throw new ConfigError(`IMPORTER_RULES names ${rulesPath}, which does not exist`);
  }
  return {
    ensEndpoint,
    ossEndpoint: env.OSS_ENDPOINT || undefined,
    statePrefix,
    dryRun: bool(env.IMPORTER_DRY_RUN, 'IMPORTER_DRY_RUN'),
    rules,
    rulesSource,
    headerBytes: 64 * 1024,
    safetyMarginMs: 5_000,
    ensTimeoutMs: positiveMs(env.IMPORTER_ENS_TIMEOUT_MS, 30_000, 'IMPORTER_ENS_TIMEOUT_MS'),
    manifestWaitMs: positiveMs(env.IMPORTER_MANIFEST_WAIT_MINUTES, 60, 'IMPORTER_MANIFEST_WAIT_MINUTES') * 60_000,
  };
}
