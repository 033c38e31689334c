import type { Command } from 'commander';
import type { Credentials } from '../shared/adapters/ens';
import { DEFAULTS } from '../shared/runtime/defaults';

/** Exit codes every command uses (documented in the README). */
export const EXIT = { ok: 0, error: 1, usage: 2, refused: 3, skipped: 4, failed: 5, interrupted: 130 } as const;

export interface GlobalOptions {
  region: string;
  ossEndpoint?: string;
  ensEndpoint: string;
  fcEndpoint?: string;
  accountId?: string;
  rules?: string;
  statePrefix: string;
  json?: boolean;
  /** the region's internal OSS endpoint (inside Alibaba Cloud only) instead of the public one */
  internal?: boolean;
}

/** Options every command accepts; each also reads the environment so scripts need no flags. */
export function withGlobalOptions(cmd: Command): Command {
  return cmd
    .option('--region <region>', "the bucket's region (env ALIBABA_CLOUD_REGION_ID)", process.env.ALIBABA_CLOUD_REGION_ID ?? 'cn-beijing')
    .option(
      '--oss-endpoint <url>',
      "OSS endpoint, e.g. the local stack (env OSS_ENDPOINT); default: the region's public endpoint",
      process.env.OSS_ENDPOINT,
    )
    .option('--internal', "use the region's internal OSS endpoint (only from inside Alibaba Cloud, e.g. an ECS instance)")
    .option('--ens-endpoint <url>', 'ENS endpoint (env ENS_ENDPOINT)', process.env.ENS_ENDPOINT ?? DEFAULTS.ensEndpoint)
    .option('--fc-endpoint <url>', 'FC API endpoint (env IMPORTER_FC_ENDPOINT)', process.env.IMPORTER_FC_ENDPOINT)
    .option('--account-id <id>', 'Alibaba Cloud account id, for FC (env ALIBABA_CLOUD_ACCOUNT_ID)', process.env.ALIBABA_CLOUD_ACCOUNT_ID)
    .option('--rules <file>', 'rules file (env IMPORTER_RULES)', process.env.IMPORTER_RULES)
    .option(
      '--state-prefix <prefix>',
      'state prefix (env IMPORTER_STATE_PREFIX)',
      process.env.IMPORTER_STATE_PREFIX ?? DEFAULTS.statePrefix,
    )
    .option('--profile <name>', 'credentials from this profile of the aliyun CLI (~/.aliyun/config.json; env ALIBABA_CLOUD_PROFILE)')
    .option('--json', 'machine-readable JSON on stdout');
}

let profileName: string | undefined;
/** The command's `--profile`, set before its action runs (cli.ts). */
export function useProfile(name: string | undefined): void {
  profileName = name;
}

/** `--profile`: that profile of the aliyun CLI's config; otherwise the default chain (environment, profile, instance role). */
export async function resolveCredentials(): Promise<Credentials> {
  // a CommonJS module compiled from TypeScript: the class is its `default` export, the providers
  // named exports (on the namespace, or on its default, as the loader interops)
  const ns = (await import('@alicloud/credentials')) as unknown as Record<string, unknown> & { default?: Record<string, unknown> };
  const mod = {
    CLIProfileCredentialsProvider: (ns.CLIProfileCredentialsProvider ?? ns.default?.CLIProfileCredentialsProvider) as CliProvider,
    Credential: (typeof ns.default === 'function' ? ns.default : ns.default?.default) as new () => {
      getCredential(): Promise<Credentials>;
    },
  };
  const c = profileName
    ? await mod.CLIProfileCredentialsProvider.builder()
        .withProfileName(profileName)
        .build()
        .getCredentials()
        .catch((err: Error) => {
          throw new UsageError(`--profile ${profileName}: ${err.message}`);
        })
    : await new mod.Credential().getCredential();
  if (!c.accessKeyId || !c.accessKeySecret)
    throw new Error('no Alibaba Cloud credentials found (set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, --profile, or a role)');
  return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken || undefined };
}

type CliProvider = { builder(): { withProfileName(n: string): { build(): { getCredentials(): Promise<Credentials> } } } };

/** `oss://bucket/key` → parts. */
export function parseOssUrl(url: string): { bucket: string; key: string } {
  const m = /^oss:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new UsageError(`expected oss://bucket/key, got "${url}"`);
  return { bucket: m[1]!, key: m[2]! };
}

export class UsageError extends Error {}

export function printTable(rows: string[][], out: (s: string) => void = (s) => console.log(s)): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  for (const r of rows)
    out(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + ([...c].length - c.length))))
        .join('  ')
        .trimEnd(),
    );
}

export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
