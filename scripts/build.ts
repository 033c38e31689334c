// Bundles each function to dist/<function>/index.js (CommonJS, nodejs20, handler index.handler).
import { build, type Plugin } from 'esbuild';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The handler file FC loads: runs bundle.js with its V8 code cache when the cache fits this V8. */
const LOADER = `'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');
const file = path.join(__dirname, 'bundle.js');
let cachedData;
try { cachedData = fs.readFileSync(path.join(__dirname, 'bundle.cache')); } catch { cachedData = undefined; }
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
// one line per cold start, on stdout as it is (FC adds no prefix there): whether this runtime's
// V8 took the cache, so an operator sees in SLS whether the cache helps on FC's Node build
const codeCache = cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted';
process.stdout.write(JSON.stringify({ event: 'cold-start', function: process.env.FC_FUNCTION_NAME, codeCache, node: process.version }) + '\\n');
const bundle = { exports: {} };
script.runInThisContext().call(bundle.exports, bundle.exports, require, bundle, file, __dirname);
module.exports = bundle.exports;
`;

/**
 * Runs the bundle, then one invocation against the local stack (the functions compiled by
 * then go into the cache too), then writes V8's code cache.
 */
const CACHE_MAKER = `
const fs = require('fs'); const vm = require('vm'); const Module = require('module');
const [file, out] = process.argv.slice(1);
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file });
const bundle = { exports: {} };
script.runInThisContext().call(bundle.exports, bundle.exports, require, bundle, file, require('path').dirname(file));
const context = { requestId: 'build-warm-up', credentials: JSON.parse(process.env.WARM_CREDENTIALS), function: { name: 'warm-up', timeout: 30 }, region: 'cn-beijing', logger: { info() {} } };
Promise.resolve(bundle.exports.handler(Buffer.from(process.env.WARM_EVENT), context))
  .catch(() => undefined)
  .then(() => { fs.writeFileSync(out, script.createCachedData()); process.exit(0); });
`;

const BUILD_CACHE = process.versions.node.split('.')[0] === '20';

const lazyIconv: Plugin = {
  name: 'lazy-iconv-lite',
  setup(b) {
    b.onResolve({ filter: /^iconv-lite$/ }, () => ({ path: './iconv-lite.js', external: true }));
  },
};

/**
 * ali-oss requires `platform` and `bowser` at load: platform.js parses the environment then
 * (7–8 ms of a cold start, profiled) and is read only for the User-Agent, where ali-oss falls
 * back to `Node.js <version> on <platform> <arch>` when it has no description; bowser is asked
 * only in browsers (IE 10 checks). The bundle gets both as empty answers.
 */
const noBrowserDetection: Plugin = {
  name: 'no-browser-detection',
  setup(b) {
    b.onResolve({ filter: /^(platform|bowser)$/ }, (a) => ({ path: a.path, namespace: 'browser-detection' }));
    b.onLoad({ filter: /.*/, namespace: 'browser-detection' }, (a) => ({
      contents: a.path === 'platform' ? 'module.exports = { description: undefined };' : "module.exports = { name: '', version: '' };",
      loader: 'js',
    }));
  },
};

/**
 * The import function reaches FC only to hand a `.img` that is not qcow2 to the converter, the
 * converter only to fan a big source out: the FC SDKs (about 1 MiB) ship as their own file
 * beside the bundle, loaded on that first invocation, so a cold start does not carry them.
 */
const lazyFcAdapter: Plugin = {
  name: 'lazy-fc-adapter',
  setup(b) {
    // a stub the bundle evaluates only when first imported; it requires the file at run time
    // (a real import() would not run inside the loader's vm.Script)
    b.onResolve({ filter: /\/adapters\/fc$/ }, (a) => (a.kind === 'dynamic-import' ? { path: 'fc', namespace: 'lazy-fc' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-fc' }, () => ({ contents: "module.exports = require('./fc-invoker.js');", loader: 'js' }));
    b.onResolve({ filter: /^\.\/fc-invoker\.js$/ }, (a) => ({ path: a.path, external: true }));
  },
};

/** A module shipped as its own file beside a bundle, loaded only when first required. */
function sideFile(entry: string, outfile: string, options: { external?: string[]; plugins?: Plugin[] } = {}) {
  return build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    ...options,
  });
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const functionsDir = join(root, 'functions');

export async function buildFunctions(): Promise<string[]> {
  const names = readdirSync(functionsDir).filter((n) => existsSync(join(functionsDir, n, 'index.ts')));
  // A throwaway local stack for the warm-up invocation that fills the code cache.
  const { startLocalStack } = await import('../local/index');
  const { objectCreatedEvent } = await import('../shared/core/event');
  const stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'warm-up' }] });
  const { gunzipSync } = await import('node:zlib');
  const sample = gunzipSync(readFileSync(join(root, 'local/samples/ubuntu-server.qcow2.gz')));
  const seeded = stack.oss.seedObject('warm-up', 'images/ubuntu/22.04/warm-up.qcow2', sample);
  const warmEnv = {
    ...process.env,
    OSS_ENDPOINT: stack.endpoints.oss,
    ENS_ENDPOINT: stack.endpoints.ens,
    IMPORTER_BUCKET: 'warm-up',
    IMPORTER_RULES: '',
    WARM_CREDENTIALS: JSON.stringify(stack.credentials),
  };
  const warmEvents: Record<string, string> = {
    'import-image': JSON.stringify(
      objectCreatedEvent({ region: 'cn-beijing', bucket: 'warm-up', key: seeded.key, size: seeded.size, etag: seeded.etag }),
    ),
  };
  try {
    for (const name of names) {
      const out = join(root, 'dist', name);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      await build({
        entryPoints: [join(functionsDir, name, 'index.ts')],
        outfile: join(out, 'bundle.js'),
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        minify: true,
        sourcemap: false,
        legalComments: 'none',
        // urllib loads proxy-agent only when a proxy is configured
        external: ['proxy-agent'],
        plugins: [lazyIconv, noBrowserDetection, lazyFcAdapter],
        // source modules read import.meta.url; in the CommonJS bundle it is this file's URL
        define: { 'import.meta.url': '__bundleUrl' },
        banner: { js: 'const __bundleUrl = require("url").pathToFileURL(__filename).href;' },
        logLevel: 'warning',
      });
      // urllib requires iconv-lite only to decode a non-UTF-8 body: ship it as its own file
      // (480 KiB) beside the bundle so the cold start does not carry it.
      await sideFile(createRequire(import.meta.url).resolve('iconv-lite'), join(out, 'iconv-lite.js'));
      // the import function hands a .img to the converter; the converter fans a big source out to itself
      if (name === 'import-image' || name === 'convert-image')
        await sideFile(join(root, 'shared/adapters/fc.ts'), join(out, 'fc-invoker.js'), {
          external: ['proxy-agent'],
          plugins: [lazyIconv, noBrowserDetection],
        });
      // FC loads index.js as CommonJS; say so, since this repository's package.json says "module"
      writeFileSync(join(out, 'package.json'), '{"type":"commonjs"}\n');
      writeFileSync(join(out, 'index.js'), LOADER);
      if (existsSync(join(root, 'importer.yaml'))) copyFileSync(join(root, 'importer.yaml'), join(out, 'importer.yaml'));
      // V8's code cache for the bundle, made by running it once: a cold start then skips
      // parsing and compiling the bundle. V8 ignores a cache from another build, and FC runs
      // nodejs20: a build on another major version ships none.
      if (!BUILD_CACHE) {
        console.log(`dist/${name}/  no code cache: this build runs on Node ${process.version}, FC on nodejs20`);
        continue;
      }
      await new Promise<void>((done, fail) =>
        execFile(
          process.execPath,
          ['-e', CACHE_MAKER, join(out, 'bundle.js'), join(out, 'bundle.cache')],
          { env: { ...warmEnv, WARM_EVENT: warmEvents[name] ?? '{}' } },
          (err, _o, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done()),
        ),
      );
      console.log(
        `dist/${name}/  bundle.js ${(statSync(join(out, 'bundle.js')).size / 1024).toFixed(0)} KiB, code cache ${(statSync(join(out, 'bundle.cache')).size / 1024).toFixed(0)} KiB`,
      );
    }
  } finally {
    await stack.stop();
  }
  return names;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildFunctions();
}
