import type { ObjectStore } from '../shared/adapters/oss';
import type { Rules } from '../shared/core/rules';
import { loadRules, readImportConfig, stateKeysOf, type ImporterConfig } from '../shared/runtime/config';
import { withStateAuth } from '../shared/state/state-auth';
import { resolveCredentials, type GlobalOptions } from './settings';

/*
 * What the commands that read rules or talk to a bucket share. Apart from settings.ts, so a
 * command that needs neither (`convert` of local files) starts without the rules parser.
 */

export function loadRulesFile(path: string | undefined): { rules: Rules; source: string } {
  const { rules, rulesSource } = loadRules(path, process.cwd());
  return { rules, source: rulesSource };
}

/** The function's own settings from the environment, with the command's flags on top. */
export function importerConfig(o: GlobalOptions, dryRun = false): ImporterConfig {
  return {
    ...readImportConfig({ ...process.env, IMPORTER_RULES: o.rules ?? process.env.IMPORTER_RULES }, process.cwd()),
    ensEndpoint: o.ensEndpoint,
    ossEndpoint: o.ossEndpoint,
    statePrefix: o.statePrefix,
    dryRun,
  };
}

/** The OSS store of a bucket, as the command's flags and the default credential chain say. */
export async function storeFor(o: GlobalOptions, bucket: string): Promise<ObjectStore> {
  // the SDKs load when a command first needs them: `convert` of local files never does
  const { createObjectStore } = await import('../shared/adapters/oss');
  const store = createObjectStore({
    region: o.region,
    bucket,
    endpoint: o.ossEndpoint,
    internal: o.internal,
    credentials: await resolveCredentials(),
  });
  return withStateAuth(store, { prefix: o.statePrefix, keys: stateKeysOf(process.env) });
}
