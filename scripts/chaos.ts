// npm run chaos [-- --n 1000 --seed 7]: uploads through the local stack while the stand-ins
// inject faults and the trigger delivers some events twice; then the tracker runs until
// everything settles. Prints the figures and exits non-zero when an invariant breaks.
import OSS from 'ali-oss';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { seededRandom } from '../local/faults';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';

export interface ChaosOptions {
  n: number;
  seed?: number;
  /** share of uploads that are bad, one of each refusal kind in turn */
  badShare?: number;
  /** share of trigger deliveries sent twice (half at once, half late) */
  duplicateShare?: number;
  faults?: boolean;
  functionCode?: 'source' | 'bundle';
  log?: (line: string) => void;
}

export interface ChaosReport {
  uploads: number;
  valid: number;
  importedExactlyOnce: number;
  duplicateImportImageCalls: number;
  lost: number;
  lostKeys: string[];
  bad: number;
  badTaggedWithRightReason: number;
  badMistagged: string[];
  duplicateDeliveries: number;
  fcRetries: number;
  failedEvents: number;
  importImageErrors: number;
  adoptedAfterLostAnswer: number;
  trackerRuns: number;
  logLinesWithSecret: number;
  faultsFired: Record<string, number>;
  seconds: number;
  ok: boolean;
}

const sample = (name: string) => gunzipSync(readFileSync(resolve(PROJECT_ROOT, 'local/samples', name)));

/** Bad uploads: the bytes (or metadata) and the ens:error each must end with. */
function badKinds(good: Buffer, backing: Buffer): { code: string; body: Buffer; meta?: Record<string, string> }[] {
  const mutate = (fn: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    fn(b);
    return b;
  };
  return [
    { code: 'not-qcow2', body: Buffer.alloc(4096, 0x5a) },
    { code: 'empty-object', body: Buffer.alloc(0) },
    { code: 'qcow2-truncated', body: good.subarray(0, 48) },
    { code: 'qcow2-backing-file', body: backing },
    { code: 'qcow2-encrypted', body: mutate((b) => b.writeUInt32BE(2, 32)) },
    { code: 'qcow2-data-file', body: mutate((b) => b.writeBigUInt64BE(4n, 72)) },
    { code: 'qcow2-corrupt', body: mutate((b) => b.writeBigUInt64BE(2n, 72)) },
    { code: 'qcow2-unknown-features', body: mutate((b) => b.writeBigUInt64BE(1n << 40n, 72)) },
    { code: 'qcow2-too-large', body: mutate((b) => b.writeBigUInt64BE(4096n * 1024n ** 3n, 24)) },
    { code: 'InvalidParameter.ImageName', body: good, meta: { 'ens-image-name': 'bad.name' } },
    { code: 'InvalidParameter.Platform', body: good, meta: { 'ens-platform': 'plan9' } },
  ];
}

function injectFaults(stack: LocalStack): void {
  const oss = stack.oss.faults;
  for (const op of ['GetObject', 'PutObject', 'PutObjectTagging', 'GetObjectTagging', 'DeleteObject', 'ListObjectsV2']) {
    oss.inject(op, { status: 503, code: 'ServiceUnavailable', rate: 0.03 });
    oss.inject(op, { drop: true, rate: 0.01 });
  }
  const ens = stack.ens.faults;
  for (const op of ['ImportImage', 'DescribeSelfImages']) {
    ens.inject(op, { status: 400, code: 'Throttling.User', message: 'Request was denied due to user flow control.', rate: 0.05 });
    ens.inject(op, { status: 500, code: 'InternalError', rate: 0.03 });
    ens.inject(op, { status: 503, code: 'ServiceUnavailable', rate: 0.02 });
    ens.inject(op, { status: 502, html: true, rate: 0.02 });
  }
  // slower than the client's timeout: ENS still creates the image, the answer is lost
  ens.inject('ImportImage', { latencyMs: 1500, rate: 0.03 });
  stack.ens.rateLimits.ImportImage = 200;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const random = seededRandom(o.seed ?? 7);
  const log = o.log ?? (() => undefined);
  let duplicateDeliveries = 0;
  const lateDeliveries = new Set<NodeJS.Timeout>();
  const stack = await startLocalStack({
    functionCode: o.functionCode ?? 'source',
    retryBaseMs: 20,
    asyncConcurrency: 32,
    functionEnv: { IMPORTER_ENS_TIMEOUT_MS: '1000', IMPORTER_MISSING_GRACE_MINUTES: '60' },
    deliver: (enqueue) => {
      enqueue();
      if (random() >= (o.duplicateShare ?? 0.1)) return;
      duplicateDeliveries += 1;
      if (random() < 0.5) enqueue();
      else {
        const t = setTimeout(
          () => {
            lateDeliveries.delete(t);
            enqueue();
          },
          200 + Math.floor(random() * 800),
        );
        lateDeliveries.add(t);
      }
    },
  });
  try {
    if (o.faults !== false) injectFaults(stack);
    const client = new OSS({
      authorizationV4: true,
      region: `oss-${stack.region}`,
      bucket: stack.bucket,
      endpoint: stack.endpoints.oss,
      accessKeyId: stack.credentials.accessKeyId,
      accessKeySecret: stack.credentials.accessKeySecret,
      timeout: 30_000,
    });
    const good = sample('ubuntu-server.qcow2.gz');
    const kinds = badKinds(good, sample('with-backing-file.qcow2.gz'));
    const valid: string[] = [];
    const bad = new Map<string, string>();
    const platforms = ['ubuntu', 'centos'];
    const badEvery = Math.max(1, Math.round(1 / (o.badShare ?? 0.1)));
    let next = 0;
    // The uploader retries like any careful client: the OSS faults hit it too.
    const put = async (key: string, body: Buffer, meta?: Record<string, string>) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await client.put(key, body, meta ? ({ meta } as never) : undefined);
        } catch (err) {
          if (attempt >= 8) throw err;
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
    };
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < o.n) {
          const i = next++;
          const platform = platforms[i % 2]!;
          const key = `images/${platform}/${20 + (i % 5)}.04/chaos image ${i}+v1.${i % 3}.qcow2`;
          if (i % badEvery === badEvery - 1) {
            const kind = kinds[Math.floor(i / badEvery) % kinds.length]!;
            bad.set(key, kind.code);
            await put(key, kind.body, kind.meta);
          } else {
            valid.push(key);
            await put(key, good, random() < 0.2 ? { 'ens-image-name': encodeURIComponent(`镜像-${i}`) } : undefined);
          }
        }
      }),
    );
    log(`uploaded ${o.n} objects; waiting for the functions`);
    while (lateDeliveries.size) await new Promise((r) => setTimeout(r, 100));
    await stack.settle();

    // The tracker runs until no import is pending.
    stack.ens.clock.advance(301_000);
    let trackerRuns = 0;
    const pendingCount = () => stack.oss.objectKeys(stack.bucket).filter((k) => k.startsWith('.ens-importer/pending/')).length;
    while (pendingCount() > 0 && trackerRuns < 30) {
      trackerRuns += 1;
      await stack.fc.fireTimers();
    }
    log(`tracker ran ${trackerRuns} times`);

    // Figures.
    const imagesByKey = new Map<string, string[]>();
    for (const image of stack.ens.listImages()) {
      const key = image.params.OSSObject ?? '';
      imagesByKey.set(key, [...(imagesByKey.get(key) ?? []), image.imageId]);
    }
    let exactlyOnce = 0;
    let duplicateCalls = 0;
    const lostKeys: string[] = [];
    for (const key of valid) {
      const images = imagesByKey.get(key) ?? [];
      const tags = stack.oss.peekObject(stack.bucket, key)!.tags;
      if (images.length === 1) exactlyOnce += 1;
      duplicateCalls += Math.max(0, images.length - 1);
      if (images.length === 0 || tags['ens:status'] !== 'available' || !images.includes(tags['ens:image-id'] ?? '')) lostKeys.push(key);
    }
    const badMistagged: string[] = [];
    for (const [key, code] of bad) {
      const tags = stack.oss.peekObject(stack.bucket, key)!.tags;
      if (tags['ens:status'] !== 'rejected' || tags['ens:error'] !== code || (imagesByKey.get(key) ?? []).length) {
        badMistagged.push(`${key}: expected ${code}, got ${tags['ens:status']}/${tags['ens:error']}`);
      }
    }
    const secrets = [...stack.secrets(), ...[...stack.fc.functions.keys()].map((n) => stack.fc.credentialsFor(n).accessKeyId)];
    const leaks = stack.fc.logs.filter((l) => secrets.some((s) => l.message.includes(s))).length;
    const faultsFired: Record<string, number> = {};
    for (const [op, n] of [...stack.oss.faults.fired, ...stack.ens.faults.fired]) faultsFired[op] = (faultsFired[op] ?? 0) + n;
    const report: ChaosReport = {
      uploads: o.n,
      valid: valid.length,
      importedExactlyOnce: exactlyOnce,
      duplicateImportImageCalls: duplicateCalls,
      lost: lostKeys.length,
      lostKeys: lostKeys.slice(0, 10),
      bad: bad.size,
      badTaggedWithRightReason: bad.size - badMistagged.length,
      badMistagged: badMistagged.slice(0, 10),
      duplicateDeliveries,
      fcRetries: stack.fc.invocations.filter((i) => i.attempt > 0).length,
      failedEvents: stack.fc.failedEvents.length,
      importImageErrors: stack.ens.callsOf('ImportImage').filter((c) => c.status !== 200).length,
      adoptedAfterLostAnswer: stack.fc.logs.filter((l) => l.message.includes('"event":"image-adopted"')).length,
      trackerRuns,
      logLinesWithSecret: leaks,
      faultsFired,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ok: false,
    };
    report.ok =
      report.lost === 0 &&
      report.duplicateImportImageCalls === 0 &&
      report.logLinesWithSecret === 0 &&
      badMistagged.length === 0 &&
      exactlyOnce === valid.length;
    return report;
  } finally {
    for (const t of lateDeliveries) clearTimeout(t);
    await stack.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(PROJECT_ROOT, 'scripts/chaos.ts')) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const report = await runChaos({ n: arg('n', 1000), seed: arg('seed', 7), functionCode: 'bundle', log: (l) => console.error(l) });
  const rows: [string, string | number][] = [
    ['uploads', report.uploads],
    ['valid uploads', report.valid],
    ['imported exactly once', report.importedExactlyOnce],
    ['duplicate ImportImage calls (extra images)', report.duplicateImportImageCalls],
    ['lost (valid, not available)', report.lost],
    ['bad uploads', report.bad],
    ['bad uploads tagged with the right reason', report.badTaggedWithRightReason],
    ['events delivered twice', report.duplicateDeliveries],
    ['FC async retries', report.fcRetries],
    ['FC failed events', report.failedEvents],
    ['ImportImage answers that were errors', report.importImageErrors],
    ['images adopted after a lost answer', report.adoptedAfterLostAnswer],
    ['tracker runs', report.trackerRuns],
    ['log lines containing a secret', report.logLinesWithSecret],
    ['faults fired', Object.values(report.faultsFired).reduce((a, b) => a + b, 0)],
    ['seconds', report.seconds],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(44)} ${v}`);
  if (!report.ok) {
    console.log(`\nINVARIANT BROKEN\n${[...report.lostKeys, ...report.badMistagged].join('\n')}`);
    process.exit(1);
  }
  console.log('\nall invariants hold');
}
