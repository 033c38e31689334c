import { Command } from 'commander';
import { runDemo } from '../local/demo';

const program = new Command();
program
  .name('ens-importer')
  .description('Turn qcow2 uploads in OSS into ENS images: operator tools and the local stack.');

program
  .command('local')
  .description('start the local stack (OSS, ENS and FC stand-ins) with the import function wired to the OSS trigger from s.yaml, and run the demo uploads')
  .option('--no-serve', 'exit after the demo instead of serving on the fixed ports')
  .action(async (opts: { serve: boolean }) => {
    const stack = await runDemo({ serve: opts.serve });
    if (!opts.serve) {
      const results = stack.fc.invocations.flatMap((i) => ((i.result as { results?: { outcome: string }[] })?.results ?? []));
      await stack.stop();
      process.exitCode = results.some((r) => r.outcome === 'imported') && results.some((r) => r.outcome === 'rejected') ? 0 : 1;
    }
  });

await program.parseAsync(process.argv);
