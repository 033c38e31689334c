import { build, type Plugin } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * The CLI as it ships in the package: one ESM bundle (with chunks loaded on demand) under
 * dist/cli/, run by bin/ens-importer.mjs when the TypeScript sources are not beside it (an
 * installed package), so a start costs no TypeScript loader. The local stack stays out: it
 * runs from a clone (npm start).
 */

const root = resolve(import.meta.dirname, '..');

const noLocalStack: Plugin = {
  name: 'no-local-stack',
  setup(b) {
    b.onResolve({ filter: /\/local\/demo$/ }, () => ({ path: './local-stack-not-packaged.mjs', external: true }));
  },
};

export async function buildCli(): Promise<void> {
  const outdir = resolve(root, 'dist/cli');
  rmSync(outdir, { recursive: true, force: true });
  const version = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string }).version;
  await build({
    entryPoints: { 'ens-importer': resolve(root, 'bin/cli.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'globalThis.ENS_IMPORTER_VERSION': JSON.stringify(version) },
    // CommonJS dependencies call require(); an ESM bundle gets one
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    // urllib's optional proxy support (never installed), and iconv-lite, which urllib requires only
    // to decode a non-UTF-8 answer: loaded from the package's dependencies when that happens
    external: ['proxy-agent', 'iconv-lite'],
    plugins: [noLocalStack],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await buildCli();
