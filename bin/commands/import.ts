import type { Command } from 'commander';
import { EXIT_FOR_OUTCOME, createInProcessRunner } from '../runner';
import { parseOssUrl, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';

export function registerImport(program: Command): void {
  withGlobalOptions(
    program
      .command('import <object>')
      .description('run the import pipeline now for one object, oss://bucket/key')
      .option('--verbose', "print the pipeline's JSON log lines on stderr"),
  ).action(async (object: string, opts: GlobalOptions & { verbose?: boolean }) => {
    const { bucket, key } = parseOssUrl(object);
    const runner = createInProcessRunner(opts, await resolveCredentials(), bucket);
    const result = await runner.run(key);
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(
        `${object}: ${result.outcome}${result.imageId ? ` ${result.imageId}` : ''}${result.errorCode ? ` (${result.errorCode})` : ''}`,
      );
      if (result.reason) console.log(`  ${result.reason}`);
    }
    process.exitCode = EXIT_FOR_OUTCOME[result.outcome];
  });
}
