import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { declaredFunctions } from '../deployment';
import type { CheckResult, DoctorInput } from '../doctor/checks';
import { EXIT, UsageError, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';
import { loadRulesFile } from '../importer-settings';

interface DoctorOptions extends GlobalOptions {
  bucket?: string;
  sYaml: string;
  ramEndpoint: string;
}

export function registerDoctor(program: Command): void {
  withGlobalOptions(
    program
      .command('doctor')
      .description('check a deployment against the cloud, one line per check, and say what to fix (exit 1 when any check fails)')
      .option('--bucket <bucket>', "the watched bucket (default: s.yaml's vars.bucket)")
      .option('--s-yaml <file>', 'the s.yaml that was deployed', 's.yaml')
      .option(
        '--ram-endpoint <url>',
        'RAM API endpoint (env IMPORTER_RAM_ENDPOINT)',
        process.env.IMPORTER_RAM_ENDPOINT ?? 'https://ram.aliyuncs.com',
      ),
  ).action(runDoctor);
}

/** Every check, one line each; the credentials first (without them nothing else can be asked). */
async function runDoctor(opts: DoctorOptions): Promise<void> {
  // the checks bring the FC and RAM SDKs: loaded when doctor runs, not for help
  const { checkBucket, checkEns, checkRoles, checkRules, checkStatePolicy, checkTriggers, fcInspectorFor } = await import(
    '../doctor/checks'
  );
  const functions = existsSync(opts.sYaml) ? declaredFunctions(resolve(opts.sYaml), opts.accountId ?? '') : [];
  const bucket = opts.bucket ?? functions.flatMap((f) => f.ossTriggers)[0]?.bucket;
  if (!bucket) throw new UsageError('give --bucket, or run doctor beside the deployed s.yaml');
  const results: CheckResult[] = [];
  let credentials: DoctorInput['credentials'];
  try {
    credentials = await resolveCredentials();
  } catch (err) {
    results.push({
      check: 'credentials',
      ok: false,
      detail: (err as Error).message,
      fix: 'set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET or --profile',
    });
    return report(results, opts);
  }
  let rules: DoctorInput['rules'];
  try {
    const loaded = loadRulesFile(opts.rules);
    rules = { rules: loaded.rules, source: loaded.source };
  } catch (err) {
    rules = { error: (err as Error).message };
  }
  const input: DoctorInput = {
    region: opts.region,
    bucket,
    statePrefix: opts.statePrefix,
    credentials,
    ossEndpoint: opts.ossEndpoint,
    ensEndpoint: opts.ensEndpoint,
    ramEndpoint: opts.ramEndpoint,
    fc: opts.accountId ? { accountId: opts.accountId, endpoint: opts.fcEndpoint } : undefined,
    functions,
    rules,
  };
  results.push(...(await checkBucket(input, rules.rules?.limits.allowedOssRegions ?? ['cn-beijing'])));
  if (results.some((r) => r.check === 'credentials' && !r.ok)) return report(results, opts);
  results.push(await checkStatePolicy(input));
  const fc = fcInspectorFor(input, opts.region);
  if (fc) results.push(...(await checkTriggers(input, fc)), ...(await checkRoles(input, fc)));
  else results.push({ check: 'functions', ok: false, detail: 'no account id: triggers and role not checked', fix: 'give --account-id' });
  results.push(await checkEns(input), checkRules(input));
  report(results, opts);
}

function report(results: CheckResult[], opts: DoctorOptions): void {
  if (opts.json) console.log(JSON.stringify({ ok: results.every((r) => r.ok), checks: results }, null, 2));
  else
    for (const r of results)
      console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.check}: ${r.detail}${r.ok || !r.fix ? '' : `\n      fix: ${r.fix}`}`);
  process.exitCode = results.every((r) => r.ok) ? EXIT.ok : EXIT.error;
}
