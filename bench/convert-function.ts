// The converter as FC runs it: the shipped convert-image bundle in a fresh process, against the
// local stack (object bodies on disk), converting raw disks of two sizes that are 75% zeros
// (ranged GETs in, a multipart upload out). Peak RSS is the process's VmHWM: flat across sizes
// is the point (it holds two parts and three source blocks, never the image).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OSS from 'ali-oss';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../local/index';
import { objectCreatedEvent } from '../shared/core/event';
import { child, sYamlNodeOptions } from './child-process';

const GiB = 2 ** 30;

/** A raw disk a quarter data: 16 stretches of a pattern each, zeros between (qemu-io writes them). */
export function makeRaw(file: string, size: number): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', file, String(size)]);
  const parts = 16;
  const each = Math.floor(size / 4 / parts);
  const commands = Array.from({ length: parts }, (_, i) => ['-c', `write -P ${0x21 + i} ${Math.floor((i * size) / parts)} ${each}`]).flat();
  execFileSync('qemu-io', ['-f', 'raw', ...commands, file], { stdio: 'ignore' });
}

/** The CLI converting the same object to an object beside it, through the same stand-in (a whole process). */
async function cliConvert(stack: LocalStack, key: string): Promise<number> {
  const cli = resolve(PROJECT_ROOT, 'dist/cli/ens-importer.mjs');
  const started = performance.now();
  await promisify(execFile)(process.execPath, [cli, 'convert', `oss://bench-convert/${key}`, `oss://bench-convert/${key}.cli.qcow2`], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.operatorEnv() },
  });
  return Math.round((performance.now() - started) / 10) / 100;
}

/** ali-oss on a stand-in bucket, with a timeout for multi-GiB uploads. */
export const benchClient = (stack: LocalStack, bucket: string): OSS =>
  new OSS({
    region: 'oss-cn-beijing',
    bucket,
    endpoint: stack.endpoints.oss,
    accessKeyId: stack.credentials.accessKeyId,
    accessKeySecret: stack.credentials.accessKeySecret,
    authorizationV4: true,
    timeout: 600_000,
  } as OSS.Options);

export async function convertInFunction(quick: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-convert-fn-'));
  const stack = await startLocalStack({ sYaml: false, buckets: [{ name: 'bench-convert' }], dataDir: join(dir, 'oss') });
  const oss = benchClient(stack, 'bench-convert');
  try {
    const out: Record<string, unknown> = {};
    let cliSeconds = 0;
    for (const size of quick ? [GiB / 4, GiB] : [GiB, 4 * GiB]) {
      const file = join(dir, `disk-${size}.raw`);
      makeRaw(file, size);
      const key = `images/ubuntu/22.04/bench-${size / GiB}g.raw`;
      await oss.put(key, file);
      rmSync(file);
      const o = stack.oss.peekObject('bench-convert', key)!;
      const events = join(dir, `event-${size}.jsonl`);
      writeFileSync(
        events,
        JSON.stringify(objectCreatedEvent({ region: 'cn-beijing', bucket: 'bench-convert', key, size: o.size, etag: o.etag })),
      );
      const before = stack.oss.requestLog.length;
      const started = performance.now();
      const r = await child(['bundle', resolve(PROJECT_ROOT, 'dist/convert-image/index.js'), events, '1'], {
        OSS_ENDPOINT: stack.endpoints.oss,
        BENCH_AK: stack.credentials.accessKeyId,
        BENCH_SK: stack.credentials.accessKeySecret,
        BENCH_FUNCTION: 'ens-convert-image',
        BENCH_TIMEOUT: '3600',
        IMPORTER_WATCHED_PREFIX: 'images/',
        NODE_OPTIONS: sYamlNodeOptions(),
      });
      const seconds = (performance.now() - started) / 1000;
      const requests = stack.oss.requestLog.slice(before);
      const count = (op: string) => requests.filter((q) => q.operation === op).length;
      const output = stack.oss.peekObject('bench-convert', key.replace(/\.raw$/, '.qcow2'));
      out[`raw${size / GiB}GiB`] = {
        outcomes: r.outcomes,
        seconds: Math.round(seconds * 100) / 100,
        guestMBps: Math.round(size / 1e6 / seconds),
        peakRssMiB: Math.round((r.peakRssBytes / 2 ** 20) * 10) / 10,
        outputBytes: output?.size,
        rangedGets: count('GetObject'),
        parts: count('UploadPart'),
        requests: requests.length,
      };
      cliSeconds = await cliConvert(stack, key);
    }
    const largest = Object.values(out).at(-1) as { seconds: number; guestMBps: number };
    out.cliOnTheLargest = {
      seconds: cliSeconds,
      method:
        'ens-importer convert oss://… oss://… (the packaged CLI bundle, built by the convert bench before) on the same object, same stand-in',
    };
    out.functionToCli = Math.round((cliSeconds / largest.seconds) * 100) / 100;
    const timeout = Number(/converttimeout: (\d+)/.exec(readFileSync(resolve(PROJECT_ROOT, 's.yaml'), 'utf8'))?.[1]);
    const hundred = Math.round((100 * GiB) / 1e6 / largest.guestMBps);
    out.hundredGiBAtThisRate = { seconds: hundred, convertTimeoutSeconds: timeout, fits: hundred < timeout };
    return {
      method:
        'the convert-image bundle in a fresh process (spawn to done), one event, the stand-in storing bodies on disk; peak RSS = VmHWM',
      ...out,
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
