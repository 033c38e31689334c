// npm run bench: measures the importer on the local stack and writes bench/results.json.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import OSS from 'ali-oss';
import { build as esbuild } from 'esbuild';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';
import { buildFunctions } from '../scripts/build';
import { objectCreatedEvent } from '../shared/core/event';
import { folderWithoutCache, measureColdStarts } from './cold-start';

const quick = process.argv.includes('--quick');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sample = (name: string) => readFileSync(resolve(PROJECT_ROOT, 'local/samples', name));
const { gunzipSync } = await import('node:zlib');
const qcow2 = gunzipSync(sample('ubuntu-server.qcow2.gz'));
const badQcow2 = gunzipSync(sample('with-backing-file.qcow2.gz'));

function child(args: string[], env: Record<string, string>): Promise<any> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [resolve(PROJECT_ROOT, 'bench/child.cjs'), ...args],
      { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, ...env }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) fail(new Error(`${err.message}\n${stderr}`));
        else done(JSON.parse(stdout.trim().split('\n').pop()!));
      },
    );
  });
}

const eventFor = (stack: LocalStack, key: string) => {
  const o = stack.oss.getObject(stack.bucket, key)!;
  return JSON.stringify(objectCreatedEvent({ region: stack.region, bucket: stack.bucket, key, size: o.size, etag: o.etag }));
};

function requestsFor(stack: LocalStack, from: { oss: number; ens: number }) {
  const oss = stack.oss.requestLog.slice(from.oss);
  const kinds: Record<string, number> = { GET: 0, PUT: 0, tagging: 0, DELETE: 0, LIST: 0, ENS: stack.ens.calls.length - from.ens };
  for (const r of oss) {
    if (r.operation.includes('Tagging')) kinds.tagging! += 1;
    else if (r.operation.startsWith('Get') || r.operation === 'HeadObject') kinds.GET! += 1;
    else if (r.operation.startsWith('Put') || r.operation === 'CopyObject') kinds.PUT! += 1;
    else if (r.operation.startsWith('Delete')) kinds.DELETE! += 1;
    else if (r.operation.startsWith('List')) kinds.LIST! += 1;
  }
  return { ...kinds, total: Object.values(kinds).reduce((a, b) => a + b, 0) };
}

async function main(): Promise<void> {
  await buildFunctions();
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, quick };
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));

  // 1. Bundle size per function.
  const sizes: Record<string, { rawKiB: number; gzipKiB: number }> = {};
  for (const fn of ['import-image', 'track-imports']) {
    const code = readFileSync(resolve(PROJECT_ROOT, 'dist', fn, 'bundle.js'));
    sizes[fn] = { rawKiB: round(code.length / 1024), gzipKiB: round(gzipSync(code).length / 1024) };
  }
  results.bundle = sizes;

  // Function runs inside this process for the request counts; a child process for timings and memory.
  const stack = await startLocalStack({ functionCode: 'bundle', retryBaseMs: 50, asyncConcurrency: 64, ens: { rateLimits: {} } });
  const env = {
    BENCH_AK: stack.credentials.accessKeyId,
    BENCH_SK: stack.credentials.accessKeySecret,
    OSS_ENDPOINT: stack.endpoints.oss,
    ENS_ENDPOINT: stack.endpoints.ens,
  };
  const client = new OSS({
    authorizationV4: true,
    region: 'oss-cn-beijing',
    bucket: stack.bucket,
    endpoint: stack.endpoints.oss,
    accessKeyId: stack.credentials.accessKeyId,
    accessKeySecret: stack.credentials.accessKeySecret,
  });
  const invoke = (event: string) => stack.fc.invoke('ens-import-image', event);

  // 2. Cold start: a fresh process loading the function and handling one event. Baselines, in
  //    the same run: the same function unbundled (our code compiled, the SDKs required from
  //    node_modules), doing the same work; and loading the two SDKs alone.
  const unbundledDir = resolve(PROJECT_ROOT, 'dist/.unbundled/import-image');
  await esbuild({
    entryPoints: [resolve(PROJECT_ROOT, 'functions/import-image/index.ts')],
    outfile: join(unbundledDir, 'index.js'),
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    define: { 'import.meta.url': '__bundleUrl' },
    banner: { js: 'const __bundleUrl = require("url").pathToFileURL(__filename).href;' },
    logLevel: 'error',
  });
  writeFileSync(join(unbundledDir, 'package.json'), '{"type":"commonjs"}\n');
  writeFileSync(join(unbundledDir, 'importer.yaml'), readFileSync(resolve(PROJECT_ROOT, 'importer.yaml')));
  // Whole processes, spawn to first event done (FC's cold start), interleaved round by round:
  // the shipped folder (bundle + V8 code cache), the same bundle without the cache, the
  // unbundled function, a bare require of the two SDKs, and Node starting with nothing.
  const noCacheEntry = folderWithoutCache(resolve(PROJECT_ROOT, 'dist/import-image'), resolve(PROJECT_ROOT, 'dist/.nocache/import-image'));
  const entries: Record<string, string> = {
    shipped: resolve(PROJECT_ROOT, 'dist/import-image/index.js'),
    noCache: noCacheEntry,
    unbundled: join(unbundledDir, 'index.js'),
  };
  const runs = quick ? 3 : 11;
  const cold = await measureColdStarts(
    ['shipped', 'noCache', 'unbundled', 'bareSdkRequire', 'nodeAlone'],
    runs,
    (i, variant) => {
      if (variant === 'bareSdkRequire') return ['baseline'];
      if (variant === 'nodeAlone') return ['noop'];
      const key = `images/ubuntu/22.04/cold-${variant}-${i}.qcow2`;
      stack.oss.seedObject(stack.bucket, key, qcow2);
      const file = join(dir, `cold-${variant}-${i}.jsonl`);
      writeFileSync(file, eventFor(stack, key));
      return ['bundle', entries[variant]!, file, '1'];
    },
    env,
  );
  results.coldStart = {
    method: `whole fresh processes, spawn to the mark, ${runs} interleaved rounds, medians; ratios per round, then the median`,
    shippedFirstEventMs: cold.medianOf('shipped', 'first'),
    noCacheFirstEventMs: cold.medianOf('noCache', 'first'),
    unbundledFirstEventMs: cold.medianOf('unbundled', 'first'),
    shippedLoadMs: cold.medianOf('shipped', 'loaded'),
    bareSdkRequireMs: cold.medianOf('bareSdkRequire', 'loaded'),
    nodeAloneMs: cold.medianOf('nodeAlone', 'loaded'),
    ratioShippedToUnbundled: cold.ratio('shipped', 'first', 'unbundled', 'first'),
    ratioNoCacheToUnbundled: cold.ratio('noCache', 'first', 'unbundled', 'first'),
    ratioShippedLoadToBareRequire: cold.ratio('shipped', 'loaded', 'bareSdkRequire', 'loaded'),
    ratioNodeAloneToBareRequire: cold.ratio('nodeAlone', 'loaded', 'bareSdkRequire', 'loaded'),
    runs,
  };

  // 3. Requests per object (new, duplicate, refused) and 4. bytes read for 1 GiB and 1 TiB objects.
  const mark = () => ({ oss: stack.oss.requestLog.length, ens: stack.ens.calls.length });
  // A warm instance: the bucket's versioning is checked once per instance (then every 5 min).
  stack.oss.seedObject(stack.bucket, 'images/ubuntu/22.04/req-warm.qcow2', qcow2);
  let m = mark();
  await invoke(eventFor(stack, 'images/ubuntu/22.04/req-warm.qcow2'));
  results.requestsFirstEventOfInstance = requestsFor(stack, m);
  stack.oss.seedObject(stack.bucket, 'images/ubuntu/22.04/req-new.qcow2', qcow2);
  // the duplicate is the same event delivered again (same upload request id)
  const newEvent = eventFor(stack, 'images/ubuntu/22.04/req-new.qcow2');
  m = mark();
  await invoke(newEvent);
  const newObject = requestsFor(stack, m);
  m = mark();
  await invoke(newEvent);
  const duplicate = requestsFor(stack, m);
  stack.oss.seedObject(stack.bucket, 'images/ubuntu/22.04/req-bad.qcow2', badQcow2);
  m = mark();
  await invoke(eventFor(stack, 'images/ubuntu/22.04/req-bad.qcow2'));
  const refused = requestsFor(stack, m);
  results.requestsPerObject = { new: newObject, duplicate, refused };
  const bytesRead: Record<string, number> = {};
  for (const [label, size] of [
    ['1GiB', 1024 ** 3],
    ['1TiB', 1024 ** 4],
  ] as const) {
    const key = `images/ubuntu/22.04/size-${label}.qcow2`;
    stack.oss.seedObject(stack.bucket, key, qcow2.subarray(0, 65536), size);
    const from = stack.oss.requestLog.length;
    await invoke(eventFor(stack, key));
    bytesRead[label] = stack.oss.requestLog
      .slice(from)
      .filter((r) => r.key === key && r.operation === 'GetObject')
      .reduce((n, r) => n + r.bytesSent, 0);
  }
  results.bytesReadPerObject = bytesRead;

  // 5. The importer's own time per object: handler time minus time spent inside the stand-ins.
  const own: number[] = [];
  for (let i = 0; i < (quick ? 50 : 200); i++) {
    const key = `images/ubuntu/22.04/own-${i}.qcow2`;
    stack.oss.seedObject(stack.bucket, key, qcow2);
    const mm = mark();
    const t = performance.now();
    await invoke(eventFor(stack, key));
    const total = performance.now() - t;
    const inside =
      stack.oss.requestLog.slice(mm.oss).reduce((n, r) => n + r.ms, 0) + stack.ens.calls.slice(mm.ens).reduce((n, c) => n + c.ms, 0);
    own.push(total - inside);
  }
  results.ownTimePerObjectMs = {
    median: round(median(own), 2),
    p90: round([...own].sort((a, b) => a - b)[Math.floor(own.length * 0.9)]!, 2),
    objects: own.length,
  };

  // 6. Peak RSS of one instance handling 1,000 events in a row (new objects).
  const n = quick ? 200 : 1000;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = `images/ubuntu/22.04/rss-${i}.qcow2`;
    stack.oss.seedObject(stack.bucket, key, qcow2);
    lines.push(eventFor(stack, key));
  }
  writeFileSync(join(dir, 'rss.jsonl'), lines.join('\n'));
  const rss = await child(['bundle', resolve(PROJECT_ROOT, 'dist/import-image/index.js'), join(dir, 'rss.jsonl'), String(n)], env);
  results.memory = { events: n, peakRssMiB: round(rss.peakRssBytes / 1024 / 1024), outcomes: rss.outcomes };

  // 7. A burst of uploads with ENS limited to a set QPS, through the trigger and FC's async queue.
  const burst = quick ? 100 : 500;
  const qps = 50;
  stack.ens.rateLimits.ImportImage = qps;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: burst }, (_, i) => client.put(`images/ubuntu/22.04/burst-${i}.qcow2`, qcow2)));
  await stack.settle();
  const burstSeconds = (performance.now() - t0) / 1000;
  const imported = stack.fc.invocations
    .flatMap((i) => (i.result as any)?.results ?? [])
    .filter((r: any) => r.key.includes('/burst-') && r.outcome === 'imported').length;
  const floor = burst / qps;
  results.burst = {
    uploads: burst,
    ensQps: qps,
    seconds: round(burstSeconds, 2),
    rateFloorSeconds: floor,
    ratio: round(burstSeconds / floor, 2),
    imported,
    throttled: stack.ens.calls.filter((c) => c.code === 'Throttling.User').length,
  };
  delete stack.ens.rateLimits.ImportImage;

  await stack.stop();

  // 8. Tracker: DescribeSelfImages calls for 1,000 pending images, in a fresh account, and the
  //    run's time to write 1,000 finished imports, one at a time (baseline) and 8 at once.
  const pendingTarget = quick ? 200 : 1000;
  const trackerRun = async (concurrency: number) => {
    const fresh = await startLocalStack({ functionCode: 'bundle', functionEnv: { IMPORTER_TRACKER_CONCURRENCY: String(concurrency) } });
    for (let i = 0; i < pendingTarget; i++) {
      const key = `images/ubuntu/22.04/track-${i}.qcow2`;
      fresh.oss.seedObject(fresh.bucket, key, qcow2);
      await fresh.fc.invoke('ens-import-image', eventFor(fresh, key));
    }
    const pending = fresh.stateKeys('pending').length;
    fresh.ens.clock.advance(301_000);
    const started = performance.now();
    const summary: any = await fresh.fc.invoke('ens-track-imports', '{}');
    const seconds = round((performance.now() - started) / 1000, 2);
    const calls = fresh.ens.callsOf('DescribeSelfImages').length;
    await fresh.stop();
    return { pending, changed: summary.changed, describeCalls: calls, seconds };
  };
  const sequential = await trackerRun(1);
  const concurrent = await trackerRun(8);
  const pendingBefore = concurrent.pending;
  results.tracker = {
    pending: pendingBefore,
    changed: concurrent.changed,
    describeCalls: concurrent.describeCalls,
    callsPer1000Pending: round((concurrent.describeCalls / Math.max(1, pendingBefore)) * 1000, 1),
    secondsToApply: {
      oneAtATime: sequential.seconds,
      eightAtOnce: concurrent.seconds,
      ratio: round(concurrent.seconds / sequential.seconds, 2),
    },
  };
  rmSync(dir, { recursive: true, force: true });

  const targets = {
    newObjectRequests: { target: '≤ 5', measured: newObject.total, met: newObject.total <= 5 },
    duplicateRequests: { target: '≤ 2', measured: duplicate.total, met: duplicate.total <= 2 },
    bytesRead: {
      target: '≤ 65536 whatever the size',
      measured: Math.max(...Object.values(bytesRead)),
      met: Math.max(...Object.values(bytesRead)) <= 65536,
    },
    coldStart: {
      target: '≤ 0.4 × the unbundled function (whole process, to the first event done)',
      measured: (results.coldStart as any).ratioShippedToUnbundled,
      met: (results.coldStart as any).ratioShippedToUnbundled <= 0.4,
    },
    coldLoad: {
      target: '≤ 0.5 × a bare require of ali-oss + pop-core (whole process)',
      measured: (results.coldStart as any).ratioShippedLoadToBareRequire,
      met: (results.coldStart as any).ratioShippedLoadToBareRequire <= 0.5,
    },
    memory: { target: 'fits FC 128 MB', measured: (results.memory as any).peakRssMiB, met: (results.memory as any).peakRssMiB < 128 },
    burst: { target: '≤ 1.25 × rate floor', measured: (results.burst as any).ratio, met: (results.burst as any).ratio <= 1.25 },
    tracker: {
      target: '≤ 1 call per 50 pending (20 per 1000)',
      measured: (results.tracker as any).callsPer1000Pending,
      met: (results.tracker as any).callsPer1000Pending <= 20,
    },
  };
  results.targets = targets;
  if (!quick) writeFileSync(resolve(PROJECT_ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const rows: [string, string, string, string][] = [
    ['bundle import-image', `${sizes['import-image']!.rawKiB} KiB raw, ${sizes['import-image']!.gzipKiB} KiB gzip`, '', ''],
    ['bundle track-imports', `${sizes['track-imports']!.rawKiB} KiB raw, ${sizes['track-imports']!.gzipKiB} KiB gzip`, '', ''],
    [
      'cold start, spawn to 1st event',
      `shipped ${(results.coldStart as any).shippedFirstEventMs} ms, no cache ${(results.coldStart as any).noCacheFirstEventMs} ms, unbundled ${(results.coldStart as any).unbundledFirstEventMs} ms`,
      targets.coldStart.target,
      `${targets.coldStart.measured}× ${targets.coldStart.met ? 'met' : 'MISSED'}`,
    ],
    [
      'cold start, spawn to loaded',
      `shipped ${(results.coldStart as any).shippedLoadMs} ms, bare SDK require ${(results.coldStart as any).bareSdkRequireMs} ms, node alone ${(results.coldStart as any).nodeAloneMs} ms (${(results.coldStart as any).ratioNodeAloneToBareRequire}×, the floor)`,
      targets.coldLoad.target,
      `${targets.coldLoad.measured}× ${targets.coldLoad.met ? 'met' : 'MISSED'}`,
    ],
    [
      'requests, new object',
      JSON.stringify(newObject),
      targets.newObjectRequests.target,
      `${newObject.total} ${targets.newObjectRequests.met ? 'met' : 'MISSED'}`,
    ],
    [
      'requests, duplicate',
      JSON.stringify(duplicate),
      targets.duplicateRequests.target,
      `${duplicate.total} ${targets.duplicateRequests.met ? 'met' : 'MISSED'}`,
    ],
    ['requests, refused', JSON.stringify(refused), '', String(refused.total)],
    [
      'bytes read, 1 GiB / 1 TiB',
      `${bytesRead['1GiB']} / ${bytesRead['1TiB']}`,
      targets.bytesRead.target,
      targets.bytesRead.met ? 'met' : 'MISSED',
    ],
    [
      'own time per object',
      `median ${(results.ownTimePerObjectMs as any).median} ms, p90 ${(results.ownTimePerObjectMs as any).p90} ms`,
      '',
      '',
    ],
    [`peak RSS, ${n} events`, `${(results.memory as any).peakRssMiB} MiB`, targets.memory.target, targets.memory.met ? 'met' : 'MISSED'],
    [
      `burst ${burst} @ ${qps} QPS`,
      `${(results.burst as any).seconds} s (floor ${floor} s)`,
      targets.burst.target,
      `${targets.burst.measured}× ${targets.burst.met ? 'met' : 'MISSED'}`,
    ],
    [
      'tracker, 1000 finishing',
      `${(results.tracker as any).secondsToApply.eightAtOnce} s at 8 at once vs ${(results.tracker as any).secondsToApply.oneAtATime} s one at a time`,
      '',
      `${(results.tracker as any).secondsToApply.ratio}x`,
    ],
    [
      'tracker calls / 1000 pending',
      `${(results.tracker as any).describeCalls} calls for ${pendingBefore}`,
      targets.tracker.target,
      `${targets.tracker.measured} ${targets.tracker.met ? 'met' : 'MISSED'}`,
    ],
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
  console.log(['figure', 'measured', 'target', 'verdict'].map((h, i) => h.padEnd(w[i]!)).join(' | '));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join(' | '));
  if (!quick) console.log('\nwritten to bench/results.json');
}

await main();
