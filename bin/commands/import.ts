import type { Command } from 'commander';
import { EXIT_FOR_END, followFromCli } from '../follow';
import { EXIT_FOR_OUTCOME } from '../exit-codes';
import { UsageError, parseOssUrl, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';

export interface WaitOptions {
  wait?: boolean;
  waitInterval: string;
  waitTimeout: string;
}

/** `--wait` and its two knobs, shared by import and retry */
export const withWaitOptions = (c: Command): Command =>
  c
    .option('--wait', 'follow the version until it ends (available, failed, rejected): one line per change; Ctrl-C stops watching only')
    .option('--wait-interval <seconds>', 'with --wait: how often to look', '10')
    .option('--wait-timeout <minutes>', 'with --wait: give up watching after this long', '360');

export function waitSettings(o: WaitOptions): { intervalMs: number; timeoutMs: number } {
  const interval = Number(o.waitInterval);
  const timeout = Number(o.waitTimeout);
  if (!(interval > 0) || !(timeout > 0)) throw new UsageError('--wait-interval and --wait-timeout take positive numbers');
  return { intervalMs: interval * 1000, timeoutMs: timeout * 60_000 };
}

export function registerImport(program: Command): void {
  withGlobalOptions(
    withWaitOptions(
      program
        .command('import <object>')
        .description('run the import pipeline now for one object, oss://bucket/key')
        .option('--verbose', "print the pipeline's JSON log lines on stderr"),
    ),
  ).action(async (object: string, opts: GlobalOptions & WaitOptions & { verbose?: boolean }) => {
    const { bucket, key } = parseOssUrl(object);
    const wait = opts.wait ? waitSettings(opts) : undefined;
    const { createInProcessRunner } = await import('../runner');
    const runner = createInProcessRunner(opts, await resolveCredentials(), bucket);
    const result = await runner.run(key);
    if (opts.json) console.log(JSON.stringify(result, wait ? undefined : null, wait ? undefined : 2));
    else {
      console.log(
        `${object}: ${result.outcome}${result.imageId ? ` ${result.imageId}` : ''}${result.errorCode ? ` (${result.errorCode})` : ''}`,
      );
      if (result.reason) console.log(`  ${result.reason}`);
    }
    process.exitCode = EXIT_FOR_OUTCOME[result.outcome];
    if (!wait || (result.outcome !== 'imported' && result.outcome !== 'duplicate')) return;
    const how = await followFromCli(
      { store: runner.store, ens: runner.ens, key, ...wait },
      { json: opts.json, resume: `ens-importer import ${object} --wait` },
    );
    process.exitCode = EXIT_FOR_END[how];
  });
}
