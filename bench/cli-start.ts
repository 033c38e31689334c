// The CLI's start as an operator pays it: whole processes, interleaved so the machine's drift
// hits every variant, against this machine's bare `node` start as the floor.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildCli } from '../scripts/build-cli';
import { median, round } from './stats';

const ROOT = resolve(import.meta.dirname, '..');

function once(args: string[], preload: string): Promise<{ ms: number; peakRssMiB: number }> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--require', preload, ...args], { cwd: tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      const m = /\{"maxRss":(\d+)\}/.exec(err);
      if (code !== 0 || !m) return fail(new Error(`${args.join(' ')} exited ${code}: ${err}`));
      done({ ms, peakRssMiB: Number(m[1]) / 1024 });
    });
  });
}

export async function cliStartFigures(runs = 15) {
  await buildCli();
  const dir = mkdtempSync(join(tmpdir(), 'cli-start-'));
  const preload = join(dir, 'rss.cjs');
  // the child's own peak RSS (KiB), written as it exits; the same small preload in every variant.
  // VmHWM, not resourceUsage().maxRSS: Linux keeps ru_maxrss across exec, so a child spawned from
  // a large parent (the whole bench) reported the parent's size
  writeFileSync(
    preload,
    "process.on('exit', () => { const m = /VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8')); process.stderr.write(JSON.stringify({ maxRss: Number(m[1]) })); });\n",
  );
  const bundle = resolve(ROOT, 'dist/cli/ens-importer.mjs');
  const variants: Record<string, string[]> = {
    nodeAlone: ['-e', '0'],
    bundleVersion: [bundle, '--version'],
    bundleHelp: [bundle, '--help'],
    cloneSourceVersion: [resolve(ROOT, 'bin/ens-importer.mjs'), '--version'],
  };
  const samples: Record<string, { ms: number; peakRssMiB: number }[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) for (const [name, args] of Object.entries(variants)) samples[name]!.push(await once(args, preload));
  rmSync(dir, { recursive: true, force: true });
  const figure = (name: string) => ({
    medianMs: round(median(samples[name]!.map((s) => s.ms))),
    peakRssMiB: round(Math.max(...samples[name]!.map((s) => s.peakRssMiB))),
  });
  const out = Object.fromEntries(Object.keys(variants).map((k) => [k, figure(k)]));
  return {
    method: `${runs} interleaved whole processes each (spawn to exit, wall clock), peak RSS = VmHWM at exit; the bundle is what npm pack ships (dist/cli), the clone runs the sources through tsx`,
    ...out,
  };
}

if (import.meta.url === `file://${process.argv[1]}`)
  console.log(JSON.stringify(await cliStartFigures(Number(process.argv[2] ?? 15)), null, 2));
