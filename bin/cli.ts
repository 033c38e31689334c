import { Command, CommanderError } from 'commander';
import { redact } from '../shared/core/redact';
import { EXIT, UsageError, useProfile } from './settings';
import { existsSync, readFileSync } from 'node:fs';
import { neutraliseStdout } from './terminal-safe';

function packageVersion(): string {
  // the packaged bundle has it built in (scripts/build-cli.ts); a clone reads package.json
  const built = (globalThis as { ENS_IMPORTER_VERSION?: string }).ENS_IMPORTER_VERSION;
  return built ?? (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The local stack runs from a clone; the installed package does not carry it. */
async function localStack(): Promise<typeof import('../local/demo')> {
  try {
    return await import('../local/demo');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new UsageError('the local stack runs from a clone of the project (npm start); the installed ens-importer does not carry it');
  }
}

const program = new Command();
program
  .name('ens-importer')
  .description(
    'Turn qcow2 uploads in OSS into ENS images: operator tools and the local stack.\nExit codes: 0 ok, 1 error, 2 usage, 3 refused/rejected, 4 skipped, 5 failed (transient), 130 interrupted.',
  )
  .version(packageVersion(), '--version', 'the version of ens-importer')
  .exitOverride()
  .showHelpAfterError()
  .hook('preAction', (_program, action) => useProfile(action.opts().profile as string | undefined));

neutraliseStdout();
// the state key npm run deploy made, when the CLI runs in the deployed clone and none is set
if (!process.env.IMPORTER_STATE_KEY && existsSync('.state-key')) process.env.IMPORTER_STATE_KEY = readFileSync('.state-key', 'utf8').trim();

// `ens-importer status … | head`: a closed pipe ends the output, not the process with a stack trace
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
  throw err;
});

/**
 * Each command's module (and the SDKs it needs) loads only when that command runs: `convert` of
 * a local file starts without ali-oss, pop-core or the credentials chain. Help and an unknown
 * name load them all (one module, as help lists them); --version loads none.
 */
const ONE_COMMAND: Record<string, () => Promise<(p: Command) => void>> = {
  plan: async () => (await import('./commands/plan')).registerPlan,
  inspect: async () => (await import('./commands/inspect')).registerInspect,
  import: async () => (await import('./commands/import')).registerImport,
  backfill: async () => (await import('./commands/backfill')).registerBackfill,
  status: async () => (await import('./commands/status')).registerStatus,
  why: async () => (await import('./commands/why')).registerWhy,
  images: async () => (await import('./commands/images')).registerImages,
  prune: async () => (await import('./commands/prune')).registerPrune,
  retry: async () => (await import('./commands/retry')).registerRetry,
  doctor: async () => (await import('./commands/doctor')).registerDoctor,
  convert: async () => (await import('./commands/convert')).registerConvert,
};
const args = process.argv.slice(2);
const named = args.find((a) => !a.startsWith('-'));
if (named && named in ONE_COMMAND) (await ONE_COMMAND[named]!())(program);
else if (named || !args.includes('--version'))
  for (const register of Object.values((await import('./commands/all')).ALL_COMMANDS)) register(program);

program
  .command('local')
  .description('start the local stack (OSS, ENS and FC stand-ins) with the functions wired from s.yaml, run the demo uploads, and serve')
  .option('--no-serve', 'exit after the demo instead of serving on the fixed ports')
  .option('--data-dir <dir>', 'keep object bodies in files under this folder instead of memory (large uploads)')
  // local/index.ts DEFAULT_PORTS; the stack is loaded only for this command (the others start faster)
  .option('--port <n>', 'first of the four ports (OSS, ENS, FC API, webhook); 0 takes free ports', '9100')
  .option('--env', 'print the shell exports that point ens-importer at the stack `npm start` serves, and exit')
  .action(async (opts: { serve: boolean; dataDir?: string; port: string; env?: boolean }) => {
    const base = Number(opts.port);
    if (!Number.isInteger(base) || base < 0 || base > 65532) throw new UsageError(`--port takes a port number, not "${opts.port}"`);
    if (opts.env) {
      const { localEnv } = await localStack();
      for (const [k, v] of Object.entries(localEnv(base))) console.log(`export ${k}=${v}`);
      return;
    }
    const ports = base === 0 ? { oss: 0, ens: 0, fc: 0, webhook: 0 } : { oss: base, ens: base + 1, fc: base + 2, webhook: base + 3 };
    const { runDemo } = await localStack();
    const stack = await runDemo({ serve: opts.serve, dataDir: opts.dataDir, ports });
    if (!opts.serve) {
      const results = stack.importResults();
      await stack.stop();
      process.exitCode =
        results.some((r) => r.outcome === 'imported') && results.some((r) => r.outcome === 'rejected') ? EXIT.ok : EXIT.error;
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (err instanceof UsageError) {
    console.error(`error: ${err.message}`);
    process.exitCode = EXIT.usage;
  } else {
    console.error(`error: ${redact((err as Error).message ?? String(err))}`);
    process.exitCode = EXIT.error;
  }
}
