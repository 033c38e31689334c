// Cold start as FC pays it: whole fresh processes, timed from spawn to the first event done
// (and to the handler loaded), paired and interleaved so the machine's drift hits every variant.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { median, round } from './stats';

const CHILD = resolve(import.meta.dirname, 'child.cjs');

export interface ColdVariant {
  name: string;
  /** child.cjs arguments; `noop` and `baseline` print only `loaded` */
  args: string[];
}

/** Spawn → each `{"mark": …}` line the child prints, in ms of the parent's clock. */
export function timeProcess(args: string[], env: Record<string, string>): Promise<Record<string, number>> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const marks: Record<string, number> = {};
    const child = spawn(process.execPath, [CHILD, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      const now = performance.now() - t0;
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\{"mark":"(\w+)"/.exec(line);
        if (m) marks[m[1]!] = now;
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? done(marks) : fail(new Error(`cold-start child ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** The shipped folder without its code cache: what a build on another Node major ships. */
export function folderWithoutCache(shipped: string, into: string): string {
  rmSync(into, { recursive: true, force: true });
  cpSync(shipped, into, { recursive: true });
  rmSync(join(into, 'bundle.cache'), { force: true });
  return join(into, 'index.js');
}

/**
 * Each round runs every variant once, in a rotated order; `prepare(i, variant)` gives the
 * arguments (a fresh object to import each time). Ratios are taken round by round, then the
 * median, so a slow minute slows both sides of a pair.
 */
export async function measureColdStarts(
  variants: string[],
  rounds: number,
  prepare: (round: number, variant: string) => string[],
  env: Record<string, string>,
) {
  const times: Record<string, { loaded: number[]; first: number[] }> = {};
  for (const v of variants) times[v] = { loaded: [], first: [] };
  for (let i = 0; i < rounds; i++) {
    const order = variants.map((_, k) => variants[(k + i) % variants.length]!);
    for (const v of order) {
      const marks = await timeProcess(prepare(i, v), env);
      times[v]!.loaded.push(marks.loaded!);
      if (marks.first !== undefined) times[v]!.first.push(marks.first);
    }
  }
  const medianOf = (v: string, m: 'loaded' | 'first') => (times[v]![m].length ? round(median(times[v]![m]), 1) : undefined);
  const ratio = (a: string, am: 'loaded' | 'first', b: string, bm: 'loaded' | 'first') =>
    round(median(times[a]![am].map((x, k) => x / times[b]![bm][k]!)), 2);
  return { times, medianOf, ratio };
}

/** (a − floor) / (b − floor) round by round, then the median: what each costs above node's own start. */
export function ratioAbove(times: Record<string, { loaded: number[] }>, a: string, b: string, floor: string): number {
  const f = times[floor]!.loaded;
  return round(median(times[a]!.loaded.map((x, k) => (x - f[k]!) / (times[b]!.loaded[k]! - f[k]!))), 2);
}

/**
 * Where a load's milliseconds go: one V8 CPU profile (0.1 ms samples) of a process that only
 * requires `entry`, self time grouped as the code-cache deserialisation (vm.Script), node's
 * built-in modules, the bundle's module evaluation, GC, and the rest.
 */
export function profileLoad(entry: string): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'load-profile-'));
  try {
    execFileSync(
      process.execPath,
      ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '100', '-e', `require(${JSON.stringify(entry)})`],
      {
        stdio: 'ignore',
      },
    );
    const profile = JSON.parse(readFileSync(join(dir, readdirSync(dir)[0]!), 'utf8')) as {
      nodes: { id: number; callFrame: { functionName: string; url: string } }[];
      samples: number[];
      timeDeltas: number[];
    };
    const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const groups: Record<string, number> = {};
    profile.samples.forEach((id, i) => {
      const { functionName, url } = byId.get(id)!;
      const group =
        functionName === '(idle)'
          ? undefined
          : functionName === 'Script' && url === 'node:vm'
            ? 'codeCacheDeserialiseMs'
            : url.endsWith('bundle.js')
              ? 'bundleModuleEvaluationMs'
              : functionName === '(garbage collector)'
                ? 'gcMs'
                : url.startsWith('node:') || functionName === 'compileForInternalLoader' || functionName === ''
                  ? 'nodeInternalsMs'
                  : 'otherMs';
      if (group) groups[group] = (groups[group] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000;
    });
    return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, round(v, 1)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
