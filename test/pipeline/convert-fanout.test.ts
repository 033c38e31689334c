import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startLocalStack, type LocalStack } from '../../local/index';
import { fanOutPayload, type FanOutTask } from '../../shared/conversion/fanout-task';
import { objectCreatedEvent } from '../../shared/core/event';
import { ossClient } from '../helpers/clients';
import { encodeConversion, parseConversion } from '../../shared/state/conversion-record';
import { stateLayout } from '../../shared/state/layout';

/**
 * A big source fanned out across instances of the converter, end to end on the local stack
 * with the shipped RAM policies: the coordinator invokes one worker per 8 MiB guest range
 * (this function again, asynchronously), each writes its data object and map under the state
 * prefix, and the coordinator assembles the qcow2 from server-side copies (UploadPartCopy)
 * and a tail of tables. Its output is the guest, and the single-instance output, exactly.
 */

const MiB = 2 ** 20;
const CONVERTER = 'ens-convert-image';
const dir = mkdtempSync(join(tmpdir(), 'convert-fanout-'));
let stack: LocalStack;
let oss: any;
beforeAll(async () => {
  stack = await startLocalStack({
    retryBaseMs: 20,
    rolePolicies: true,
    functionEnv: { IMPORTER_FANOUT_MIB: '1', IMPORTER_FANOUT_RANGE_MIB: '8', IMPORTER_FANOUT_POLL_MS: '50' },
  });
  oss = ossClient(stack);
});
afterAll(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** 40 MiB of guest: data in most ranges, one range empty, one holding a single cluster, a short tail. */
function guest(name: string): string {
  const raw = join(dir, `${name}.raw`);
  const b = Buffer.alloc(40 * MiB);
  for (let i = 0; i < 3 * MiB; i += 4) b.writeUInt32BE((i * 2654435761) >>> 0, i);
  b.fill(0xa5, 8 * MiB - 4096, 8 * MiB + 70_000); // across the first range boundary
  b.fill(0x3c, 17 * MiB, 17 * MiB + 100); // range 2: one cluster, too small for a part of its own
  b.fill(0x77, 32 * MiB, 39 * MiB);
  b.write('end of disk', b.length - 11);
  writeFileSync(raw, b);
  return raw;
}

const qemu = (...args: string[]) => spawnSync('qemu-img', args, { encoding: 'utf8' });
const fanOutFolder = () => stack.oss.objectKeys(stack.bucket, '.ens-importer/fanout/');
const workerRuns = () => stack.fc.invocations.filter((i) => i.function === CONVERTER && (i.result as any)?.range);

/** The CLI's one-pass conversion of the same file (the single-instance output). */
function singleInstance(file: string): string {
  const out = `${file}.single.qcow2`;
  execFileSync(process.execPath, [resolve(PROJECT_ROOT, 'bin/ens-importer.mjs'), 'convert', file, out, '--json'], { encoding: 'utf8' });
  return out;
}

describe('a big source fans out across FC instances', () => {
  const cases: [string, string, string[]][] = [
    ['fan-raw.raw', 'raw', []],
    ['fan-vhd.vhd', 'vpc', ['-o', 'subformat=dynamic']],
    ['fan-vmdk.vmdk', 'vmdk', ['-o', 'subformat=streamOptimized']],
    ['fan-vhdx.vhdx', 'vhdx', ['-o', 'block_size=1M']],
  ];
  for (const [name, format, options] of cases) {
    it(`${name}: workers per range, assembled by copies, identical to the guest and to the single-instance output`, async () => {
      const raw = guest(name);
      const file = format === 'raw' ? raw : `${raw}.${format}`;
      if (format !== 'raw') execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, raw, file]);
      const key = `images/ubuntu/22.04/${name}`;
      const copiesBefore = stack.oss.requestLog.filter((r) => r.operation === 'UploadPartCopy').length;
      const workersBefore = workerRuns().length;
      await oss.put(key, readFileSync(file));
      await stack.settle();
      const outputKey = key.replace(/\.[^.]+$/, '.qcow2');
      expect(stack.convertResults().filter((r) => r.key === key)).toMatchObject([{ outcome: 'converted', outputKey }]);
      expect(stack.importResults().filter((r) => r.key === outputKey)).toMatchObject([{ outcome: 'imported' }]);
      const ranges = Math.ceil(JSON.parse(qemu('info', '--output=json', file).stdout)['virtual-size'] / (8 * MiB));
      expect(workerRuns().length - workersBefore).toBe(ranges);
      expect(stack.oss.requestLog.filter((r) => r.operation === 'UploadPartCopy').length - copiesBefore).toBeGreaterThan(0);
      const out = join(dir, `${name}.fanout.qcow2`);
      writeFileSync(out, (await oss.get(outputKey)).content);
      const check = qemu('check', out);
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(qemu('compare', '-F', 'qcow2', file, out).stdout).toMatch(/identical/i);
      expect(qemu('compare', '-f', 'qcow2', '-F', 'qcow2', singleInstance(file), out).stdout).toMatch(/identical/i);
      expect(fanOutFolder()).toEqual([]);
    });
  }

  const task = (key: string, etag: string, size: number, index: number): FanOutTask => ({
    region: 'cn-beijing',
    bucket: stack.bucket,
    key,
    etag,
    size,
    format: 'raw',
    virtualSize: size,
    index,
    from: index * 8 * MiB,
    to: Math.min(size, (index + 1) * 8 * MiB),
  });

  /** the version claimed as its coordinator would (a worker works only for a conversion in progress) */
  async function claimed(key: string, etag: string): Promise<void> {
    const sample = parseConversion(stack.objectText(stack.stateKeys('conversions')[0]!))!;
    // an attempt whose holder is gone (its deadline passed): the next delivery takes it over
    const record = { ...sample, state: 'converting' as const, key, etag, outputKey: key.replace(/\.raw$/, '.qcow2'), history: [] };
    record.claimDeadline = new Date(Date.now() - 1000).toISOString();
    const recordKey = stateLayout('.ens-importer/').conversionKey(stack.bucket, key, etag);
    await oss.put(recordKey, Buffer.from(stack.signedState(recordKey, encodeConversion(record))));
  }

  it('a task for a conversion not in progress (redelivered after it ended) does nothing', async () => {
    const key = 'images/ubuntu/22.04/late.raw';
    const body = Buffer.alloc(2 * MiB, 1);
    const etag = (await oss.put(key, body, { meta: { 'ens-import': 'skip' } })).res.headers.etag.replace(/"/g, '');
    await stack.settle();
    const r = (await stack.fc.invoke(CONVERTER, fanOutPayload(task(key, etag, body.length, 0)))) as any;
    expect(r.range).toMatchObject({ outcome: 'duplicate', reason: 'the conversion is not claimed' });
    expect(fanOutFolder()).toEqual([]);
  });

  it('a task delivered twice at once: one map, one data object, the loser removes its own', async () => {
    const key = 'images/ubuntu/22.04/twice.raw';
    const body = readFileSync(guest('twice'));
    await oss.put(key, body, { meta: { 'ens-import': 'skip' } });
    await stack.settle();
    const etag = stack.oss.peekObject(stack.bucket, key)!.etag;
    await claimed(key, etag);
    const payload = fanOutPayload(task(key, etag, body.length, 0));
    const results = await Promise.all([stack.fc.invoke(CONVERTER, payload), stack.fc.invoke(CONVERTER, payload)]);
    expect(results.map((r: any) => r.range.outcome).sort()).toEqual(['converted', 'duplicate']);
    const folder = fanOutFolder();
    expect(folder.filter((k) => /\/map-0\.json$/.test(k))).toHaveLength(1);
    const data = folder.filter((k) => /\/data-0-/.test(k));
    expect(data).toHaveLength(1);
    expect(stack.objectText(folder.find((k) => k.endsWith('map-0.json'))!)).toContain(data[0]);
    expect(await stack.fc.invoke(CONVERTER, payload)).toMatchObject({ range: { outcome: 'duplicate' } });
  });

  it('a source overwritten while its range converts is refused in the map (superseded), so the coordinator stops waiting', async () => {
    const key = 'images/ubuntu/22.04/gone.raw';
    const body = Buffer.alloc(2 * MiB, 1);
    const etag = (await oss.put(key, body, { meta: { 'ens-import': 'skip' } })).res.headers.etag.replace(/"/g, '');
    await claimed(key, etag);
    await oss.put(key, Buffer.alloc(2 * MiB, 2), { meta: { 'ens-import': 'skip' } });
    await stack.settle();
    const r = (await stack.fc.invoke(CONVERTER, fanOutPayload(task(key, etag, body.length, 0)))) as any;
    expect(r.range).toMatchObject({ outcome: 'refused', errorCode: 'superseded' });
    const folder = fanOutFolder();
    expect(folder.filter((k) => k.endsWith('map-0.json')).map((k) => JSON.parse(stack.objectText(k)!).failed)).toContain('superseded');
    expect(stack.oss.openUploads(stack.bucket).filter((u) => u.key.includes('/fanout/'))).toEqual([]);
  });

  it('a coordinator that finds some ranges done invokes workers only for the rest', async () => {
    const key = 'images/ubuntu/22.04/resumed.raw';
    const body = readFileSync(guest('resumed'));
    // the workers of an earlier attempt: ranges 0 and 3 converted before the source's event is handled
    const etag = (await oss.put(key, body, { meta: { 'ens-import': 'skip' } })).res.headers.etag.replace(/"/g, '');
    await stack.settle();
    await claimed(key, etag);
    for (const i of [0, 3]) await stack.fc.invoke(CONVERTER, fanOutPayload(task(key, etag, body.length, i)));
    const before = workerRuns().length;
    // the same version without the skip (metadata replaced in place keeps the ETag), its event handed to the converter
    stack.oss.replaceObjectMeta(stack.bucket, key, {});
    const event = objectCreatedEvent({ region: 'cn-beijing', bucket: stack.bucket, key, size: body.length, etag });
    const result = (await stack.fc.invoke(CONVERTER, JSON.stringify(event))) as any;
    await stack.settle();
    expect(result.results).toMatchObject([{ outcome: 'converted' }]);
    expect(workerRuns().length - before).toBe(3);
    const job = stateLayout('.ens-importer/').fanOutPrefix(stack.bucket, key, etag);
    expect(fanOutFolder().filter((k) => k.startsWith(job))).toEqual([]);
  });
});
