import type { Command } from 'commander';
import { EXIT_FOR_END, followFromCli } from '../follow';
import { waitSettings, withWaitOptions, type WaitOptions } from './import';
import { randomUUID } from 'node:crypto';
import { fcInvokerOnDemand } from '../fc-on-demand';
import type { ObjectStore } from '../../shared/adapters/object-store';
import { objectCreatedEvent } from '../../shared/core/event';
import { ALL_WATCHED_SUFFIXES, jobOfKey, type JobName } from '../../shared/lifecycle/job-of';
import type { createInProcessRunner } from '../runner';
import { EXIT, UsageError, parseOssUrl, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';
import { importerConfig } from '../importer-settings';
import { readObjectStory } from '../story/object-story';
import { forgetGoneImage } from './retry-force';
import { listImageObjects } from './status';

interface RetryOptions extends GlobalOptions, WaitOptions {
  failed?: boolean;
  includeRejected?: boolean;
  prefix?: string;
  via: 'fc' | 'local';
  function: string;
  converter: string;
  force?: boolean;
}

/** Never retried: the version has its image (or is on its way to one), or its qcow2. */
const DONE = new Set(['importing', 'available', 'converted']);

interface RetryLine {
  key: string;
  outcome: 'queued' | 'imported' | 'converted' | 'rejected' | 'failed' | 'skipped' | 'duplicate';
  /** which function's job the retry started: a conversion failure is retried by the converter */
  job?: JobName;
  imageId?: string;
  errorCode?: string;
  reason?: string;
}

export function registerRetry(program: Command): void {
  withGlobalOptions(
    withWaitOptions(
      program
        .command('retry [urls...]')
        .description('a fresh attempt for failed or rejected objects (never for imported ones), through the function or in this process')
        .option('--failed', 'every failed object under --prefix (a rejection fails the same way again: see --include-rejected)')
        .option('--include-rejected', 'with --failed: rejected objects too (after the rules or limits that refused them changed)')
        .option('--prefix <url>', 'with --failed: oss://bucket/prefix')
        .option('--via <where>', 'fc: invoke the deployed import function asynchronously; local: run the pipeline here', 'fc')
        .option('--function <name>', 'the import function (with --via fc)', 'ens-import-image')
        .option('--converter <name>', 'the converter function, for a failed conversion (with --via fc)', 'ens-convert-image')
        .option('--force', 'also a version whose image ENS no longer has (ENS is asked first; an image it has is never imported again)'),
    ),
  ).action(async (urls: string[], opts: RetryOptions) => {
    if (opts.via !== 'fc' && opts.via !== 'local') throw new UsageError('--via is fc or local');
    const wait = opts.wait ? waitSettings(opts) : undefined;
    const targets = await targetsOf(urls, opts);
    const lines: RetryLine[] = [];
    const byBucket = new Map<string, RetryLine[]>();
    for (const [bucket, keys] of targets) byBucket.set(bucket, await retryIn(bucket, keys, opts));
    for (const l of byBucket.values()) lines.push(...l);
    if (opts.json) console.log(JSON.stringify({ via: opts.via, results: lines }, null, wait ? undefined : 2));
    else
      for (const l of lines)
        console.log(
          `${l.outcome.padEnd(9)} ${l.key}${l.imageId ? ` ${l.imageId}` : ''}${l.errorCode ? ` (${l.errorCode})` : ''}${l.reason ? `: ${l.reason}` : ''}`,
        );
    const any = (o: RetryLine['outcome']) => lines.some((l) => l.outcome === o);
    process.exitCode = any('failed')
      ? EXIT.failed
      : any('rejected')
        ? EXIT.refused
        : lines.every((l) => l.outcome === 'skipped')
          ? EXIT.skipped
          : EXIT.ok;
    if (wait) process.exitCode = await waitForAll(byBucket, opts, wait);
  });
}

/** --wait: follow each retried version in turn; the exit code is the worst end. */
async function waitForAll(byBucket: Map<string, RetryLine[]>, opts: RetryOptions, wait: { intervalMs: number; timeoutMs: number }) {
  const credentials = await resolveCredentials();
  let code: number = EXIT.ok;
  for (const [bucket, lines] of byBucket) {
    const runner = (await import('../runner')).createInProcessRunner(opts, credentials, bucket);
    for (const l of lines.filter((x) => x.outcome !== 'failed' && x.outcome !== 'rejected')) {
      const how = await followFromCli(
        { store: runner.store, ens: runner.ens, key: l.key, ...wait },
        { json: opts.json, resume: `ens-importer retry oss://${bucket}/${l.key} --wait` },
      );
      code = Math.max(code, EXIT_FOR_END[how]);
      if (how === 'interrupted') return code;
    }
  }
  return code;
}

async function targetsOf(urls: string[], opts: RetryOptions): Promise<Map<string, string[] | { prefix: string }>> {
  const targets = new Map<string, string[] | { prefix: string }>();
  if (opts.failed) {
    if (!opts.prefix) throw new UsageError('--failed needs --prefix oss://bucket/prefix');
    const { bucket, key } = parseOssUrl(opts.prefix);
    targets.set(bucket, { prefix: key });
  }
  for (const url of urls) {
    const { bucket, key } = parseOssUrl(url);
    const list = targets.get(bucket);
    if (Array.isArray(list)) list.push(key);
    else if (!list) targets.set(bucket, [key]);
  }
  if (!targets.size) throw new UsageError('give oss://bucket/key… or --failed --prefix oss://bucket/prefix');
  return targets;
}

async function retryIn(bucket: string, keys: string[] | { prefix: string }, opts: RetryOptions): Promise<RetryLine[]> {
  const credentials = await resolveCredentials();
  const runner = (await import('../runner')).createInProcessRunner(opts, credentials, bucket);
  const listed = Array.isArray(keys)
    ? keys
    : (await listImageObjects(runner.store, keys.prefix, opts.statePrefix, ALL_WATCHED_SUFFIXES))
        .filter((s) => s.status === 'failed' || (opts.includeRejected && s.status === 'rejected'))
        .map((s) => s.key);
  const invoke = opts.via === 'fc' ? fcInvoke(opts, credentials, bucket) : undefined;
  const lines: RetryLine[] = [];
  // one object's error is that object's line, never the end of the sweep
  for (const key of listed)
    lines.push(
      await retryOne(runner.store, key, opts, runner, invoke).catch(
        (err: Error & { code?: string }): RetryLine => ({
          key,
          outcome: 'failed',
          errorCode: err.code ?? err.name,
          reason: err.message.slice(0, 300),
        }),
      ),
    );
  return lines;
}

async function retryOne(
  store: ObjectStore,
  key: string,
  opts: RetryOptions,
  runner: ReturnType<typeof createInProcessRunner>,
  invoke: ((job: JobName, key: string, etag: string, size: number) => Promise<void>) | undefined,
): Promise<RetryLine> {
  const story = await readObjectStory(store, opts.region, key, importerConfig(opts));
  if (!story.exists) return { key, outcome: 'failed', errorCode: 'object-missing', reason: 'no such object' };
  const job = jobOfKey(key, story.record?.state);
  const state = job === 'conversion' ? story.conversion?.state : story.record?.state;
  const done = DONE.has(story.status) || (state !== undefined && DONE.has(state));
  const forced =
    done && opts.force && job === 'import' ? await forgetGoneImage(store, runner.ens, runner.log, story, opts.statePrefix) : undefined;
  if (forced && !forced.gone) return { key, job, outcome: 'skipped', imageId: story.imageId, reason: forced.reason };
  if (done && !forced)
    return {
      key,
      job,
      outcome: 'skipped',
      imageId: story.imageId,
      reason: `already ${story.status}; a finished version is never done again`,
    };
  const object = { etag: story.etag, size: story.size };
  if (!invoke) {
    if (job === 'conversion') {
      const c = await runner.convert(key, object, true);
      return { key, job, outcome: c.outcome, errorCode: c.errorCode, reason: c.outcome === 'converted' ? c.outputKey : c.reason };
    }
    const r = await runner.run(key, object, true);
    return {
      key,
      job,
      outcome: r.outcome,
      imageId: r.imageId,
      errorCode: r.errorCode,
      reason: r.outcome === 'imported' ? undefined : r.reason,
    };
  }
  try {
    await invoke(job, key, story.etag!, story.size!);
    return { key, job, outcome: 'queued', reason: `was ${story.status}${story.error ? ` (${story.error})` : ''}` };
  } catch (err) {
    return { key, outcome: 'failed', errorCode: (err as { code?: string }).code ?? 'InvokeFailed', reason: (err as Error).message };
  }
}

/** The trigger's event with a new upload id: the claim takes it as a new attempt, keeping the history. */
function fcInvoke(opts: RetryOptions, credentials: Awaited<ReturnType<typeof resolveCredentials>>, bucket: string) {
  if (!opts.accountId) throw new UsageError('--via fc needs --account-id (or ALIBABA_CLOUD_ACCOUNT_ID)');
  const fc = fcInvokerOnDemand({
    api: '2023-03-30',
    accountId: opts.accountId,
    region: opts.region,
    endpoint: opts.fcEndpoint,
    credentials,
  });
  return async (job: JobName, key: string, etag: string, size: number) => {
    const event = objectCreatedEvent({
      region: opts.region,
      bucket,
      key,
      size,
      etag,
      accountId: opts.accountId,
      requestId: `retry-${randomUUID()}`,
    });
    await fc.invokeAsync(job === 'conversion' ? opts.converter : opts.function, JSON.stringify(event));
  };
}
