// Bundles each function to dist/<function>/index.js (CommonJS, nodejs20, handler index.handler).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const functionsDir = join(root, 'functions');

export async function buildFunctions(): Promise<string[]> {
  const names = readdirSync(functionsDir).filter((n) => existsSync(join(functionsDir, n, 'index.ts')));
  for (const name of names) {
    const out = join(root, 'dist', name);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    await build({
      entryPoints: [join(functionsDir, name, 'index.ts')],
      outfile: join(out, 'index.js'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      // urllib loads proxy-agent only when a proxy is configured
      external: ['proxy-agent'],
      // source modules read import.meta.url; in the CommonJS bundle it is this file's URL
      define: { 'import.meta.url': '__bundleUrl' },
      banner: { js: 'const __bundleUrl = require("url").pathToFileURL(__filename).href;' },
      logLevel: 'warning',
    });
    // FC loads index.js as CommonJS; say so, since this repository's package.json says "module"
    writeFileSync(join(out, 'package.json'), '{"type":"commonjs"}\n');
    if (existsSync(join(root, 'importer.yaml'))) copyFileSync(join(root, 'importer.yaml'), join(out, 'importer.yaml'));
    console.log(`dist/${name}/index.js  ${(statSync(join(out, 'index.js')).size / 1024).toFixed(0)} KiB`);
  }
  return names;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildFunctions();
}
