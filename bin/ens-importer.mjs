#!/usr/bin/env node
// A clone runs the TypeScript sources through tsx (never a stale build); the installed package,
// which carries no sources, runs its bundle (scripts/build-cli.ts), with no loader to start.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli/ens-importer.mjs', import.meta.url);
const tsx = existsSync(new URL('./cli.ts', import.meta.url)) ? await import('tsx/esm/api').catch(() => undefined) : undefined;
if (tsx) {
  tsx.register();
  await import('./cli.ts');
} else if (existsSync(bundle)) {
  // a clone installed with --omit=dev has no tsx: its bundle, if one was built, still runs
  await import(bundle.href);
} else {
  console.error('ens-importer: this clone has no tsx (npm ci --omit=dev?) and no bundle: run npm ci, or npm run build:cli');
  process.exitCode = 1;
}
