// The tracker at scale: N pending imports seeded straight into the stand-ins (as N imports
// would have left them), then one run of the shipped tracker in a fresh process: its peak RSS,
// its time, and the DescribeSelfImages calls it made.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';
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

/** One tracker run in a fresh process (the shipped bundle), as FC's timer would start it. */
export function runTrackerProcess(
  stack: LocalStack,
  env: Record<string, string> = {},
): Promise<{ summary: any; peakRssMiB: number; ms: number; cpuMs: number }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    execFile(
      process.execPath,
      // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the tracker process, to see where its time goes
      [
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        resolve(PROJECT_ROOT, 'bench/child.cjs'),
        'tracker',
        resolve(PROJECT_ROOT, 'dist/track-imports/index.js'),
      ],
      {
        cwd: PROJECT_ROOT,
        maxBuffer: 1 << 28,
        env: {
          PATH: process.env.PATH ?? '',
          BENCH_AK: stack.credentials.accessKeyId,
          BENCH_SK: stack.credentials.accessKeySecret,
          OSS_ENDPOINT: stack.endpoints.oss,
          ENS_ENDPOINT: stack.endpoints.ens,
          IMPORTER_BUCKET: stack.bucket,
          IMPORTER_STATE_PREFIX: '.ens-importer/',
          ...env,
        },
      },
      (err, stdout, stderr) => {
        if (err) return fail(new Error(`${err.message}\n${stderr}`));
        const last = JSON.parse(stdout.trim().split('\n').pop()!);
        done({
          cpuMs: last.cpuMs,
          summary: last.summary,
          peakRssMiB: Math.round((last.peakRssBytes / 1024 / 1024) * 10) / 10,
          ms: performance.now() - started,
        });
      },
    );
  });
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
    };
  } finally {
    await stack.stop();
  }
}
