import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { objectCreatedEvent } from '../../shared/core/event';
import { matchRule, type Rules } from '../../shared/core/rules';
import type { ObjectResult } from '../../shared/core/outcome';
import type { Credentials } from '../../shared/adapters/ens';
import { fcInvokerOnDemand } from '../fc-on-demand';
import { EXIT, UsageError, parseOssUrl, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';
import { listImageObjects, type ObjectState } from './status';
import type { ConvertResult } from '../../shared/conversion/convert-event';
import { ALL_WATCHED_SUFFIXES, jobOfKey } from '../../shared/lifecycle/job-of';

interface BackfillOptions extends GlobalOptions {
  via: 'local' | 'fc';
  concurrency: string;
  dryRun?: boolean;
  retryFailed?: boolean;
  limit?: string;
  function: string;
  converter: string;
  fcApi: string;
  service: string;
  verbose?: boolean;
}

const positive = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not "${v}"`);
  return n;
};

export function registerBackfill(program: Command): void {
  withGlobalOptions(
    program
      .command('backfill <prefix>')
      .description(
        'import (or convert) every watched object under oss://bucket/prefix that has no ens:status yet (uploaded before the functions existed): .qcow2, .img, manifests, and the formats the converter takes',
      )
      .option('--via <where>', 'local: run the pipeline in this process; fc: invoke the deployed function asynchronously', 'local')
      .option('--concurrency <n>', 'objects handled at once', '8')
      .option('--dry-run', 'list what would be imported, change nothing')
      .option('--retry-failed', 'also retry objects whose import failed or was rejected')
      .option('--limit <n>', 'at most this many objects')
      .option('--function <name>', 'the import function (with --via fc)', 'ens-import-image')
      .option('--converter <name>', 'the converter function, for raw, VMDK, VHD, VHDX and OVA sources (with --via fc)', 'ens-convert-image')
      .option(
        '--fc-api <version>',
        'with --via fc: 2023-03-30 for FC 3.0 functions (what s deploy makes), 2016-08-15 for an FC 2.0 service',
        '2023-03-30',
      )
      .option('--service <name>', 'the FC 2.0 service of the function (with --fc-api 2016-08-15)', 'default')
      .option('--verbose', "print the pipeline's JSON log lines on stderr (with --via local)"),
  ).action(runBackfill);
}

/** Would the functions do anything with it? A converter's source and a manifest are judged by what they become. */
function coveredByRules(rules: Rules, key: string): boolean {
  if (jobOfKey(key, undefined) === 'conversion' || key.endsWith('.ens-image.json')) return true;
  const rule = matchRule(rules, key);
  return !!rule && !rule.skip;
}

type Handled = ObjectResult | ConvertResult | { key: string; outcome: 'queued' | 'failed'; errorCode?: string; reason?: string };

async function runBackfill(url: string, opts: BackfillOptions): Promise<void> {
  if (opts.via !== 'local' && opts.via !== 'fc') throw new UsageError('--via is local or fc');
  const concurrency = positive(opts.concurrency, '--concurrency')!;
  const limit = positive(opts.limit, '--limit');
  const { bucket, key: prefix } = parseOssUrl(url);
  const credentials = await resolveCredentials();
  const { createInProcessRunner } = await import('../runner');
  const runner = createInProcessRunner(opts, credentials, bucket);
  const all = await listImageObjects(runner.store, prefix, opts.statePrefix, ALL_WATCHED_SUFFIXES);
  const retryable = (s: ObjectState) => !!opts.retryFailed && (s.status === 'failed' || s.status === 'rejected');
  // keys no rule imports (no match, or a skip rule) would only ever be skipped: leave them out
  const covered = (s: ObjectState) => coveredByRules(runner.config.rules, s.key);
  const uncovered = all.filter((s) => !covered(s)).length;
  let eligible = all.filter((s) => covered(s) && (s.status === 'not-imported' || retryable(s)));
  if (limit) eligible = eligible.slice(0, limit);
  const out = (s: string) => (opts.json ? undefined : console.log(s));
  if (opts.dryRun) {
    const report = { bucket, prefix, listed: all.length, notCoveredByRules: uncovered, eligible: eligible.map((e) => e.key), dryRun: true };
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    for (const e of eligible) out(`would ${e.status === 'not-imported' ? 'import' : 'retry'} ${e.key}`);
    out(`\n${all.length} objects listed, ${eligible.length} would be handled (dry run: nothing changed)`);
    process.exitCode = EXIT.ok;
    return;
  }
  const invoke = opts.via === 'fc' ? fcInvoker(opts, credentials, bucket) : undefined;
  const handle = (item: ObjectState): Promise<Handled> => {
    const etag = item.etag.toUpperCase();
    // a failed or rejected version is retried as a new upload would be (record kept)
    if (invoke) return invoke(item, etag);
    const object = { etag, size: item.size };
    return jobOfKey(item.key, undefined) === 'conversion'
      ? runner.convert(item.key, object, retryable(item))
      : runner.run(item.key, object, retryable(item));
  };
  const { results, summary, interrupted } = await handleAll(eligible, handle, concurrency, opts, out);
  const body = {
    bucket,
    prefix,
    via: opts.via,
    listed: all.length,
    notCoveredByRules: uncovered,
    eligible: eligible.length,
    handled: results.length,
    interrupted,
    counts: summary,
    results,
  };
  if (opts.json) console.log(JSON.stringify(body, null, 2));
  const counts =
    Object.entries(summary)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'nothing to do';
  out(
    `\n${all.length} objects listed${uncovered ? ` (${uncovered} no rule imports)` : ''}, ${eligible.length} eligible, ${results.length} handled: ${counts}${interrupted ? ' (interrupted)' : ''}`,
  );
  process.exitCode = interrupted ? EXIT.interrupted : summary.failed ? EXIT.failed : summary.rejected ? EXIT.refused : EXIT.ok;
}

/** Asynchronous invocations of the deployed function, with events shaped as the trigger's. */
function fcInvoker(opts: BackfillOptions, credentials: Credentials, bucket: string): (item: ObjectState, etag: string) => Promise<Handled> {
  if (!opts.accountId) throw new UsageError('--via fc needs --account-id (or ALIBABA_CLOUD_ACCOUNT_ID)');
  if (opts.fcApi !== '2023-03-30' && opts.fcApi !== '2016-08-15')
    throw new UsageError('--fc-api is 2023-03-30 (FC 3.0, the fc3 component) or 2016-08-15 (an FC 2.0 service)');
  const fc = fcInvokerOnDemand({
    api: opts.fcApi,
    accountId: opts.accountId,
    region: opts.region,
    endpoint: opts.fcEndpoint,
    credentials,
    service: opts.service,
  });
  return async (item, etag) => {
    const event = objectCreatedEvent({ region: opts.region, bucket, key: item.key, size: item.size, etag, accountId: opts.accountId });
    try {
      await fc.invokeAsync(jobOfKey(item.key, undefined) === 'conversion' ? opts.converter : opts.function, JSON.stringify(event));
      return { key: item.key, outcome: 'queued' };
    } catch (err) {
      return {
        key: item.key,
        outcome: 'failed',
        errorCode: (err as { code?: string }).code ?? 'InvokeFailed',
        reason: (err as Error).message,
      };
    }
  };
}

/** Bounded concurrency with a progress bar (or a line per object); Ctrl-C finishes the objects in hand. */
async function handleAll(
  eligible: ObjectState[],
  handle: (item: ObjectState) => Promise<Handled>,
  concurrency: number,
  opts: BackfillOptions,
  out: (s: string) => void,
) {
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    process.stderr.write('\ninterrupted: finishing the objects in hand; run the same command again to continue\n');
  };
  process.once('SIGINT', onSigint);
  const bar =
    process.stderr.isTTY && !opts.json
      ? new SingleBar({ format: 'backfill [{bar}] {value}/{total} {key}', hideCursor: true }, Presets.shades_classic)
      : undefined;
  bar?.start(eligible.length, 0, { key: '' });
  const results: Handled[] = [];
  const summary: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (!interrupted && next < eligible.length) {
      const item = eligible[next++]!;
      const r = await handle(item);
      results.push(r);
      summary[r.outcome] = (summary[r.outcome] ?? 0) + 1;
      if (bar) bar.update(results.length, { key: item.key });
      else
        out(
          `[${results.length}/${eligible.length}] ${r.outcome} ${item.key}${'imageId' in r && r.imageId ? ` ${r.imageId}` : ''}${r.errorCode ? ` (${r.errorCode})` : ''}`,
        );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, eligible.length) }, worker));
  bar?.stop();
  process.removeListener('SIGINT', onSigint);
  return { results, summary, interrupted };
}
