// npm run bench: measures the importer on the local stack and writes bench/results.json.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build as esbuild } from 'esbuild';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';
import { buildFunctions } from '../scripts/build';
import { objectCreatedEvent } from '../shared/core/event';
import { folderWithoutCache, measureColdStarts, profileLoad, ratioAbove } from './cold-start';
import { burst } from './burst';
import { convertFigures } from './convert';
import { convertInFunction } from './convert-function';
import { convertFanOut } from './convert-fanout';
import { child, sYamlNodeOptions } from './child-process';
import { median, round } from './stats';
import { backfillFigures } from './backfill';
import { sdkFloor, trackerAtScale } from './tracker-scale';
import { cliStartFigures } from './cli-start';

const quick = process.argv.includes('--quick');
const sample = (name: string) => readFileSync(resolve(PROJECT_ROOT, 'local/samples', name));
const { gunzipSync } = await import('node:zlib');
const qcow2 = gunzipSync(sample('ubuntu-server.qcow2.gz'));
const badQcow2 = gunzipSync(sample('with-backing-file.qcow2.gz'));

const eventFor = (stack: LocalStack, key: string) => {
  const o = stack.oss.peekObject(stack.bucket, key)!;
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

/** The NODE_OPTIONS s.yaml gives the functions (vars.nodeoptions). */
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
    ratioShippedLoadToBareRequireAboveNode: ratioAbove(cold.times, 'shipped', 'bareSdkRequire', 'nodeAlone'),
    shippedLoadProfile: profileLoad(entries.shipped!),
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

  // 6. Peak RSS of one instance: 1,000 events in a row, and one event of 1,000 records; with
  //    the NODE_OPTIONS s.yaml sets, and without (in case FC's runtime ignored them).
  const n = quick ? 200 : 1000;
  const lines: string[] = [];
  const records: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const key = `images/ubuntu/22.04/rss-${i}.qcow2`;
    stack.oss.seedObject(stack.bucket, key, qcow2);
    lines.push(eventFor(stack, key));
    const batchKey = `images/ubuntu/22.04/rss-batch-${i}.qcow2`;
    stack.oss.seedObject(stack.bucket, batchKey, qcow2);
    records.push((JSON.parse(eventFor(stack, batchKey)) as { events: unknown[] }).events[0]);
  }
  writeFileSync(join(dir, 'rss.jsonl'), lines.join('\n'));
  writeFileSync(join(dir, 'rss-batch.jsonl'), JSON.stringify({ events: records }));
  const nodeOptions = sYamlNodeOptions();
  const peak = async (file: string, count: number, withOptions: boolean) => {
    const r = await child(['bundle', resolve(PROJECT_ROOT, 'dist/import-image/index.js'), file, String(count)], {
      ...env,
      ...(withOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    });
    return round(r.peakRssBytes / 1024 / 1024);
  };
  const memory = {
    method: 'a fresh process running the shipped bundle against the local stack; peak RSS = its VmHWM',
    nodeOptions,
    singleEventsPeakRssMiB: await peak(join(dir, 'rss.jsonl'), n, true),
    oneEventOfManyRecordsPeakRssMiB: await peak(join(dir, 'rss-batch.jsonl'), 1, true),
    withoutNodeOptions: {
      singleEventsPeakRssMiB: await peak(join(dir, 'rss.jsonl'), n, false),
      oneEventOfManyRecordsPeakRssMiB: await peak(join(dir, 'rss-batch.jsonl'), 1, false),
    },
    events: n,
  };
  // the records of the batch are new objects for the runs above: the second run meets duplicates
  results.memory = memory;
  await stack.stop();

  // 7. Bursts: uploads with ENS at a set rate, through the trigger, FC's queue, separate instances.
  results.burst = await burst(quick ? 200 : 2000, 10, qcow2);

  // 8. The tracker at scale, in a fresh process, with s.yaml's NODE_OPTIONS.
  const scale = quick ? 2000 : 10000;
  const trackerEnv = { NODE_OPTIONS: nodeOptions };
  results.tracker = {
    method: 'pending imports seeded into the stand-ins; one run of the shipped tracker in a fresh process',
    stillImporting: await trackerAtScale(scale, 0, 60_000, 'oldest-first', trackerEnv),
    stillImportingWithoutNodeOptions: await trackerAtScale(scale, 0, 60_000, 'oldest-first'),
    finishing: await trackerAtScale(scale, 0, 3_600_000, 'oldest-first', trackerEnv),
    fewPendingInABigAccount: {
      oldestFirst: await trackerAtScale(100, 10_001, 3_600_000, 'oldest-first', trackerEnv),
      newestFirst: await trackerAtScale(100, 10_001, 3_600_000, 'newest-first', trackerEnv),
    },
    // the same six requests per finished import through ali-oss alone: the floor under `finishing`
    sdkFloorSameRequests: await sdkFloor(scale, trackerEnv),
  };

  // 9. Backfill: requests per new object and objects per second, in process and through FC.
  results.backfill = await backfillFigures(quick ? 100 : 500, qcow2);

  // 9b. The packaged CLI's start (--version, --help), against node's own start
  results.cliStart = await cliStartFigures(quick ? 5 : 15);

  // 10. The converter (#15) against qemu-img convert, local file to local file.
  results.convert = await convertFigures(quick);
  // 11. The converter as FC runs it: the convert-image bundle, ranged GETs in, multipart out.
  results.convertInFunction = await convertInFunction(quick);
  // 12. The fan-out: one instance, then 1, 2 and 4 workers (each instance a process of its own).
  results.convertFanOut = await convertFanOut(quick);
  rmSync(dir, { recursive: true, force: true });

  const cs = results.coldStart as any;
  const mem = results.memory as any;
  const b = results.burst as any;
  const tr = results.tracker as any;
  const bf = results.backfill as any;
  const cv = results.convert as any;
  const cf = Object.values(results.convertInFunction as Record<string, any>).filter((v) => typeof v?.peakRssMiB === 'number');
  const convertPeak = Math.max(...cf.map((v) => v.peakRssMiB));
  const target = (t: string, measured: number, met: boolean, note = '') => ({ target: t, measured, met, ...(note ? { note } : {}) });
  const targets = {
    newObjectRequests: target('≤ 5 requests', newObject.total, newObject.total <= 5),
    duplicateRequests: target('≤ 2 requests', duplicate.total, duplicate.total <= 2),
    bytesRead: target(
      '≤ 65536 bytes whatever the size',
      Math.max(...Object.values(bytesRead)),
      Math.max(...Object.values(bytesRead)) <= 65536,
    ),
    cliStart: target(
      '--version and --help ≤ 300 ms whole process, peak ≤ 60 MiB (the packaged bundle)',
      Math.max((results.cliStart as any).bundleVersion.medianMs, (results.cliStart as any).bundleHelp.medianMs),
      Math.max((results.cliStart as any).bundleVersion.medianMs, (results.cliStart as any).bundleHelp.medianMs) <= 300 &&
        Math.max((results.cliStart as any).bundleVersion.peakRssMiB, (results.cliStart as any).bundleHelp.peakRssMiB) <= 60,
    ),
    coldStart: target(
      '≤ 0.4 × the unbundled function (whole process, spawn to first event done)',
      cs.ratioShippedToUnbundled,
      cs.ratioShippedToUnbundled <= 0.4,
    ),
    coldLoad: target(
      '≤ 0.5 × a bare require of ali-oss + pop-core (whole process)',
      cs.ratioShippedLoadToBareRequire,
      cs.ratioShippedLoadToBareRequire <= 0.5,
    ),
    coldLoadAboveNode: target(
      "≤ 0.4 × a bare require of ali-oss + pop-core, each above node's own start",
      cs.ratioShippedLoadToBareRequireAboveNode,
      cs.ratioShippedLoadToBareRequireAboveNode <= 0.4,
    ),
    memorySingleEvents: target('≤ 90 MiB, 1,000 events', mem.singleEventsPeakRssMiB, mem.singleEventsPeakRssMiB <= 90),
    memoryManyRecords: target(
      '≤ 90 MiB, one event of 1,000 records',
      mem.oneEventOfManyRecordsPeakRssMiB,
      mem.oneEventOfManyRecordsPeakRssMiB <= 90,
    ),
    burstTime: target('≤ 1.1 × the rate floor', b.ratio, b.ratio <= 1.1),
    burstThrottled: target('≤ 2 throttled calls per import', b.throttledPerImport, b.throttledPerImport <= 2),
    burstDeadline: target('no invocation past its deadline', b.pastDeadline, b.pastDeadline === 0),
    trackerMemory: target('≤ 90 MiB with 10,000 pending still importing', tr.stillImporting.peakRssMiB, tr.stillImporting.peakRssMiB <= 90),
    trackerTime: target(
      '10,000 finishing in ≤ 15 s',
      tr.finishing.seconds,
      tr.finishing.seconds <= 15,
      `the same ${tr.sdkFloorSameRequests.ossRequests} OSS requests through ali-oss alone: ${tr.sdkFloorSameRequests.seconds} s, ` +
        `${tr.sdkFloorSameRequests.sdkCpuMsPerRequest} ms CPU a request`,
    ),
    trackerRequests: target(
      '≤ 3 OSS requests per finished import',
      tr.finishing.ossRequestsPerFinished,
      tr.finishing.ossRequestsPerFinished <= 3,
    ),
    trackerCalls: target(
      'DescribeSelfImages ≤ pending/50 + 2',
      tr.finishing.describeCalls,
      tr.finishing.describeCalls <= tr.finishing.pending / 50 + 2,
    ),
    trackerCallsFewPending: target(
      'DescribeSelfImages ≤ pending/50 + 2 (100 pending, 10,101 images, listing oldest first)',
      tr.fewPendingInABigAccount.oldestFirst.describeCalls,
      tr.fewPendingInABigAccount.oldestFirst.describeCalls <= 100 / 50 + 2,
      'the API filters by one ImageId and documents no order: newest first it costs ' +
        tr.fewPendingInABigAccount.newestFirst.describeCalls,
    ),
    ...Object.fromEntries(
      Object.entries(cv)
        .filter(([, v]) => typeof (v as any)?.ratio === 'number')
        .map(([label, v]: [string, any]) => [
          `convert_${label}`,
          target(
            '≤ 1.5 × qemu-img convert, peak RSS < 200 MiB, identical guest',
            v.ratio,
            v.ratio <= 1.5 && v.oursPeakRssMiB < 200 && v.identicalGuest,
          ),
        ]),
    ),
    convertInFunctionVsCli: target(
      '≥ 0.8 × the CLI on the same object through the stand-ins',
      (results.convertInFunction as any).functionToCli,
      (results.convertInFunction as any).functionToCli >= 0.8,
    ),
    fanOutMemory: target(
      'peak RSS < 200 MiB in every instance (coordinator and workers)',
      Math.max(...['workers1', 'workers2', 'workers4'].map((w) => (results.convertFanOut as any)[w].peakRssMiBLargest)),
      ['workers1', 'workers2', 'workers4'].every((w) => (results.convertFanOut as any)[w].peakRssMiBLargest < 200),
    ),
    fanOutScaling: target(
      '4 workers ≥ 2 × 1 worker on the same disk (this machine)',
      (results.convertFanOut as any).speedup.workers4ToWorkers1,
      (results.convertFanOut as any).speedup.workers4ToWorkers1 >= 2,
      'the OSS stand-in serves every instance from one process on the same 2 cores: see standInCpuSeconds',
    ),
    fanOut100GiBProjection: target(
      '100 GiB in ≤ 600 s with 16 workers (projected, docs/performance.md)',
      (results.convertFanOut as any).projection100GiB16Workers.seconds,
      (results.convertFanOut as any).projection100GiB16Workers.seconds <= 600,
    ),
    convertMemory: target('peak RSS < 200 MiB at any size (convert-image, two sizes)', convertPeak, convertPeak < 200),
    backfillRequests: target('≤ 5 requests per new object (--via local)', bf.local.requestsPerObject, bf.local.requestsPerObject <= 5),
  };
  results.targets = targets;
  if (!quick) writeFileSync(resolve(PROJECT_ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const rows: string[][] = [
    ['figure', 'measured', 'target', 'verdict'],
    ['bundle import-image', `${sizes['import-image']!.rawKiB} KiB raw, ${sizes['import-image']!.gzipKiB} KiB gzip`, '', ''],
    [
      'cold start, spawn to 1st event',
      `shipped ${cs.shippedFirstEventMs} ms, no cache ${cs.noCacheFirstEventMs} ms, unbundled ${cs.unbundledFirstEventMs} ms`,
      '',
      '',
    ],
    [
      'cold start, spawn to loaded',
      `shipped ${cs.shippedLoadMs} ms, bare SDK require ${cs.bareSdkRequireMs} ms, node alone ${cs.nodeAloneMs} ms`,
      '',
      '',
    ],
    ['requests, new / duplicate / refused', `${newObject.total} / ${duplicate.total} / ${refused.total}`, '', ''],
    ['burst', `${b.uploads} @ ${b.ensQps} QPS in ${b.seconds} s (floor ${b.rateFloorSeconds} s), ${b.throttledCalls} throttled`, '', ''],
    [
      'tracker',
      `${tr.finishing.pending} finishing in ${tr.finishing.seconds} s, ${tr.finishing.peakRssMiB} MiB, ${tr.finishing.describeCalls} calls`,
      '',
      '',
    ],
    [
      'tracker CPU, SDK floor',
      `tracker ${tr.finishing.trackerCpuSeconds} s; the same requests via ali-oss alone ${tr.sdkFloorSameRequests.sdkCpuSeconds} s CPU, ${tr.sdkFloorSameRequests.seconds} s`,
      '',
      '',
    ],
    [
      'backfill',
      `local ${bf.local.requestsPerObject} req/object, ${bf.local.objectsPerSecond}/s; fc ${bf.fc.requestsPerObject} req/object, ${bf.fc.objectsPerSecond}/s`,
      '',
      '',
    ],
    ...Object.entries(targets).map(([k, t]) => [k, String(t.measured), t.target, t.met ? 'met' : 'MISSED']),
  ];
  const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((c, k) => c.padEnd(w[k]!)).join(' | '));
  if (!quick) console.log('\nwritten to bench/results.json');
}

await main();
