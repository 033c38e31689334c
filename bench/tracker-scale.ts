// The tracker at scale: N pending imports seeded straight into the stand-ins (as N imports
// would have left them), then one run of the shipped tracker in a fresh process: its peak RSS,
// its time, and the DescribeSelfImages calls it made.
import { execFile, execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';
import { ossClientOptions } from '../shared/adapters/oss-client';
import { DEFAULTS } from '../shared/runtime/defaults';
import { stateLayout } from '../shared/state/layout';

const layout = stateLayout('.ens-importer/');

/** `pending` imports made `ageMs` ago; `others` older images in the account besides them. */
export function seedPending(stack: LocalStack, pending: number, others: number, ageMs: number): void {
  const header = Buffer.from('QFI\xfb', 'latin1');
  const created = stack.ens.clock.now() - ageMs;
  const image = (name: string, at: number) => {
    const imageId = stack.ens.seedImage({
      imageName: name,
      computeType: 'ens_vm',
      osType: 'linux',
      architecture: 'x86_64',
      createdAt: at,
      params: {},
    });
    return imageId;
  };
  for (let i = 0; i < others; i++) image(`other-${i}`, created - 86_400_000);
  for (let i = 0; i < pending; i++) {
    const key = `images/ubuntu/22.04/scale-${i}.qcow2`;
    const o = stack.oss.seedObject(stack.bucket, key, header, 1024 ** 3);
    const imageId = image(`scale-${i}`, created);
    const claimKey = layout.claimKey(stack.bucket, key, o.etag.toUpperCase());
    const at = new Date(created).toISOString();
    const record = {
      state: 'importing',
      bucket: stack.bucket,
      key,
      etag: o.etag.toUpperCase(),
      size: o.size,
      generation: 0,
      claimedAt: at,
      claimDeadline: at,
      requestId: 'seed',
      eventName: 'ObjectCreated:PutObject',
      imageId,
      imageName: `scale-${i}`,
      importedAt: at,
      attempt: 1,
      history: [
        { state: 'claimed', at },
        { state: 'importing', at },
      ],
    };
    stack.oss.seedObject(stack.bucket, claimKey, Buffer.from(JSON.stringify(record)));
    // the key's history lists the version, as the import wrote it before its work
    stack.oss.seedObject(stack.bucket, layout.keyVersionKey(stack.bucket, key, 'import', claimKey), Buffer.alloc(0));
    // the index entry is written right after ImportImage answers: its time is the image's
    stack.oss.seedObject(stack.bucket, layout.pendingKey(claimKey, imageId), Buffer.alloc(0), 0, {}, { lastModified: new Date(created) });
    stack.oss.setObjectTags(stack.bucket, key, { 'ens:image-id': imageId, 'ens:status': 'importing' });
  }
}

/**
 * A bench child on core 1 while this process (the stand-ins, every thread) keeps core 0: in the
 * cloud OSS and ENS are other machines, so the measured process does not share its core with
 * them. Without taskset or a second core, both run unpinned and the result says so.
 */
function pinnedChild(args: string[], env: Record<string, string>): Promise<{ stdout: string; ms: number; pinned: boolean }> {
  const pin = availableParallelism() >= 2 && hasTaskset();
  const all = `0-${availableParallelism() - 1}`;
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const [file, argv] = pin ? ['taskset', ['-c', '1', process.execPath, ...profile, ...args]] : [process.execPath, [...profile, ...args]];
  const started = performance.now();
  return new Promise<{ stdout: string; ms: number; pinned: boolean }>((done, fail) =>
    execFile(file, argv, { cwd: PROJECT_ROOT, maxBuffer: 1 << 28, env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) =>
      err ? fail(new Error(`${err.message}\n${stderr}`)) : done({ stdout, ms: performance.now() - started, pinned: pin }),
    ),
  ).finally(() => {
    if (pin) execFileSync('taskset', ['-a', '-p', '-c', all, String(process.pid)], { stdio: 'ignore' });
  });
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One tracker run in a fresh process (the shipped bundle), as FC's timer would start it. */
export async function runTrackerProcess(
  stack: LocalStack,
  env: Record<string, string> = {},
): Promise<{ summary: any; peakRssMiB: number; ms: number; cpuMs: number; pinned: boolean }> {
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the tracker process, to see where its time goes
  const r = await pinnedChild([resolve(PROJECT_ROOT, 'bench/child.cjs'), 'tracker', resolve(PROJECT_ROOT, 'dist/track-imports/index.js')], {
    BENCH_AK: stack.credentials.accessKeyId,
    BENCH_SK: stack.credentials.accessKeySecret,
    OSS_ENDPOINT: stack.endpoints.oss,
    ENS_ENDPOINT: stack.endpoints.ens,
    IMPORTER_BUCKET: stack.bucket,
    IMPORTER_STATE_PREFIX: '.ens-importer/',
    ...env,
  });
  const last = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return {
    cpuMs: last.cpuMs,
    summary: last.summary,
    peakRssMiB: Math.round((last.peakRssBytes / 1024 / 1024) * 10) / 10,
    ms: r.ms,
    pinned: r.pinned,
  };
}

export async function trackerAtScale(
  pending: number,
  others: number,
  ageMs: number,
  order: 'oldest-first' | 'newest-first' = 'oldest-first',
  env: Record<string, string> = {},
) {
  const stack = await startLocalStack({
    functionCode: 'bundle',
    sYaml: false,
    buckets: [{ name: 'ens-images', region: 'cn-beijing' }],
    ens: { listingOrder: order },
  });
  try {
    seedPending(stack, pending, others, ageMs);
    const before = stack.ens.callsOf('DescribeSelfImages').length;
    const ossBefore = stack.oss.requestLog.length;
    // the stand-ins run in this process: their CPU is what this process spends meanwhile
    const standInCpu = process.cpuUsage();
    const r = await runTrackerProcess(stack, env);
    const standIn = process.cpuUsage(standInCpu);
    const ossRequests = stack.oss.requestLog.slice(ossBefore);
    const byOperation: Record<string, number> = {};
    for (const q of ossRequests) byOperation[q.operation] = (byOperation[q.operation] ?? 0) + 1;
    return {
      pending,
      accountImages: pending + others,
      listingOrder: order,
      seconds: Math.round(r.ms / 100) / 10,
      peakRssMiB: r.peakRssMiB,
      describeCalls: stack.ens.callsOf('DescribeSelfImages').length - before,
      changed: r.summary.changed,
      complete: r.summary.complete,
      pendingLeft: stack.stateKeys('pending').length,
      trackerCpuSeconds: Math.round(r.cpuMs / 100) / 10,
      standInCpuSeconds: Math.round((standIn.user + standIn.system) / 1e5) / 10,
      trackerCpuMsPerFinished: r.summary.changed ? Math.round((r.cpuMs / r.summary.changed) * 100) / 100 : undefined,
      ossRequestsPerFinished: r.summary.changed ? Math.round((ossRequests.length / r.summary.changed) * 100) / 100 : undefined,
      ossRequests: byOperation,
      pinned: r.pinned,
    };
  } finally {
    await stack.stop();
  }
}

/**
 * The same six OSS requests per import as the tracker sends, through ali-oss alone in a fresh
 * process (bench/sdk-floor.cjs), against the same stand-ins: the SDK's and the machine's price
 * of the requests, the floor under the tracker's own time and CPU.
 */
export async function sdkFloor(imports: number, env: Record<string, string> = {}, concurrency = DEFAULTS.trackerApplyConcurrency) {
  const stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'ens-images', region: 'cn-beijing' }] });
  try {
    const prefix = '.ens-importer/floor/';
    const record = Buffer.from(JSON.stringify({ state: 'importing', key: 'images/ubuntu/22.04/scale-0.qcow2', history: [] }).padEnd(700));
    for (let i = 0; i < imports; i++) {
      stack.oss.seedObject(stack.bucket, `${prefix}records/${i}.json`, record);
      stack.oss.seedObject(stack.bucket, `${prefix}objects/${i}.qcow2`, Buffer.from('QFI\xfb', 'latin1'), 1024 ** 3);
      stack.oss.setObjectTags(stack.bucket, `${prefix}objects/${i}.qcow2`, { 'ens:image-id': `m-${i}`, 'ens:status': 'importing' });
    }
    const ossBefore = stack.oss.requestLog.length;
    const standInCpu = process.cpuUsage();
    const child = await pinnedChild([resolve(PROJECT_ROOT, 'bench/sdk-floor.cjs'), String(imports), String(concurrency), prefix], {
      BENCH_OSS_OPTIONS: JSON.stringify(
        ossClientOptions({ region: stack.region, bucket: stack.bucket, endpoint: stack.endpoints.oss, credentials: stack.credentials }),
      ),
      ...env,
    });
    const out = JSON.parse(child.stdout.trim()) as { ms: number; cpuMs: number };
    const standIn = process.cpuUsage(standInCpu);
    return {
      imports,
      concurrency,
      ossRequests: stack.oss.requestLog.length - ossBefore,
      seconds: Math.round(out.ms / 100) / 10,
      sdkCpuSeconds: Math.round(out.cpuMs / 100) / 10,
      sdkCpuMsPerRequest: Math.round((out.cpuMs / (imports * 6)) * 1000) / 1000,
      standInCpuSeconds: Math.round((standIn.user + standIn.system) / 1e5) / 10,
      pinned: child.pinned,
    };
  } finally {
    await stack.stop();
  }
}
