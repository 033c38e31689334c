import { convertObjectEvent, type ConvertResult } from '../../shared/conversion/convert-event';
import { endFailedConversion } from '../../shared/conversion/final-failure';
import type { FanOutTask } from '../../shared/conversion/fanout-task';
import { convertRange } from '../../shared/conversion/fanout-worker';
import type { ObjectEvent } from '../../shared/core/event';
import { readConverterConfig } from '../../shared/runtime/config';
import { createLogger } from '../../shared/runtime/logger';
import { parseConversion } from '../../shared/state/conversion-record';
import { stateLayout } from '../../shared/state/layout';
import { VirtualClock } from '../helpers/virtual-clock';
import { World, type Caller, type FaultKind } from '../helpers/world';
import { completedUploads, openUploads, worldTransfer } from '../helpers/world-transfer';

/**
 * The fault explorer for the converter: uploads and deliveries on a virtual clock in the
 * in-memory bucket, run as FC runs ens-convert-image (retries after a failure or a crash, 3 at
 * most, then the on-failure function), then the conversion's promises checked.
 */

const BUCKET = 'ens-images';
const TIMEOUT_MS = 120_000;
const MARGIN_MS = 5_000;
const FC_RETRY_DELAY_MS = 10_000;
const config = readConverterConfig({ IMPORTER_CONVERT_MARGIN_SECONDS: '5' }, process.cwd());
/** fan-out at any size: a 1 MiB guest in four 256 KiB ranges, each a worker invocation */
const fanOutConfig = readConverterConfig(
  {
    IMPORTER_CONVERT_MARGIN_SECONDS: '5',
    IMPORTER_FANOUT_MIB: '0.0001',
    IMPORTER_FANOUT_RANGE_MIB: '0.25',
    IMPORTER_FANOUT_POLL_MS: '1000',
  },
  process.cwd(),
);
const layout = stateLayout(config.statePrefix);
const silent = createLogger(() => undefined, {}, []);

export interface ConvertScenarioWorld {
  upload(key: string, body: Buffer, afterMs: number): string;
  deliver(key: string, upload: string, afterMs: number): void;
  /** the guest each key's current version must become, or false: refused, no qcow2 */
  expect: Map<string, Buffer | false>;
}
export type ConvertScenario = (s: ConvertScenarioWorld) => void;

export async function runConvertScenario(scenario: ConvertScenario, faults: Map<number, FaultKind>, fanOut = false) {
  const clock = new VirtualClock();
  const world = new World(clock, BUCKET, faults);
  const results: ConvertResult[] = [];
  const violations: string[] = [];
  const logged: string[] = [];
  const log = createLogger((line) => logged.push(line), {}, []);
  let n = 0;
  const caller = (prefix: string): Caller => ({ id: `${prefix}-${++n}`, deadline: clock.now() + TIMEOUT_MS - MARGIN_MS, crashed: false });
  /** FC's run of one invocation: a crash ends at the timeout; then `after` decides what comes next */
  const fcRun = <T>(c: Caller, work: Promise<T>, after: (r: T | undefined) => void) => {
    const began = clock.now();
    clock.at(began + TIMEOUT_MS, () => c.crashed && after(undefined));
    void work.then(after, (err) => violations.push(`an invocation threw: ${(err as Error).stack}`));
  };
  const giveUp = (event: ObjectEvent, attempt: number): void => {
    const c = caller('fail');
    const deps = {
      store: world.store(c, c.deadline),
      log: silent,
      layout,
      clock,
      requestId: c.id,
      deadline: c.deadline,
      outputTemplate: config.outputTemplate,
    };
    const work = endFailedConversion(event, 'FC gave up (InternalError)', deps).catch(() => undefined);
    fcRun(c, work, (r) => {
      if (r === undefined && attempt < 3) clock.at(clock.now() + FC_RETRY_DELAY_MS, () => giveUp(event, attempt + 1));
    });
  };
  /** a fan-out worker as FC runs an asynchronous invocation: a throw or a crash is retried, 3 times at most */
  const work = (task: Omit<FanOutTask, 'region'>, attempt: number): void => {
    const c = caller('wrk');
    const deps = { ...depsOf(c), config: fanOutConfig };
    fcRun(
      c,
      convertRange({ ...task, region: 'cn-beijing' }, deps).catch(() => undefined),
      (r) => {
        if (r === undefined && attempt < 3) clock.at(clock.now() + FC_RETRY_DELAY_MS, () => work(task, attempt + 1));
      },
    );
  };
  const depsOf = (c: Caller) => ({
    config: fanOut ? fanOutConfig : config,
    store: world.store(c, c.deadline),
    transfer: worldTransfer(world, c, c.deadline),
    log,
    requestId: c.id,
    deadline: c.deadline,
    clock,
    // 128 KiB source blocks and 256 KiB parts: a 1 MiB guest still takes several of each
    sizes: { block: 128 * 1024, part: () => 256 * 1024 },
    ...(fanOut ? { invokeWorker: async (task: Omit<FanOutTask, 'region'>) => clock.at(clock.now() + 1, () => work(task, 0)) } : {}),
  });
  const invoke = (event: ObjectEvent, attempt: number): void => {
    const c = caller('inv');
    const deps = depsOf(c);
    fcRun(c, convertObjectEvent(event, deps), (r) => {
      if (r) results.push(r);
      if (r && !(r.outcome === 'failed' && r.retryable)) return;
      clock.at(clock.now() + FC_RETRY_DELAY_MS, () => (attempt < 3 ? invoke(event, attempt + 1) : giveUp(event, 0)));
    });
  };
  const expect = new Map<string, Buffer | false>();
  const start = clock.now();
  scenario({
    expect,
    upload(key, body, afterMs) {
      clock.at(start + afterMs, () => void world.put(key, body));
      return `up-${key}-${afterMs}`;
    },
    deliver(key, upload, afterMs) {
      clock.at(start + afterMs, () => {
        const o = world.objects.get(key);
        invoke(
          {
            eventName: 'ObjectCreated:PutObject',
            region: 'cn-beijing',
            bucket: BUCKET,
            key,
            etag: o?.etag ?? 'GONE',
            size: o?.body.length,
            requestId: upload,
          },
          0,
        );
      });
    },
  });
  if (!(await clock.run(start + 6 * 3_600_000))) violations.push('the run did not settle');
  // a cleanup OSS refused until the deadline says so, and leaves the folder to the lifecycle rule
  const cleanupRefused = logged.some((l) => l.includes('"event":"fanout-cleanup-failed"'));
  violations.push(...checkConversions(world, expect, cleanupRefused));
  return { world, violations, results };
}

/** The converter's promises, on the world as the run left it. */
export function checkConversions(world: World, expect: Map<string, Buffer | false>, cleanupRefused = false): string[] {
  const v: string[] = [];
  const keys = [...world.objects.keys()];
  for (const [key, guest] of expect) {
    const source = world.objects.get(key)!;
    const record = parseConversion(world.objects.get(layout.conversionKey(BUCKET, key, source.etag))?.body.toString('utf8'));
    const outputKey = key.replace(/\.[^.]+$/, '.qcow2');
    const output = world.objects.get(outputKey);
    if (!record || record.state === 'converting') v.push(`${key}: the conversion record is ${record?.state ?? 'missing'}`);
    else if (source.tags.get('ens:status') !== record.state)
      v.push(`${key}: tagged ${source.tags.get('ens:status')} but the record says ${record.state}`);
    if (guest === false) {
      if (output) v.push(`${key}: refused, yet ${outputKey} exists`);
      if (record && record.state !== 'rejected') v.push(`${key}: expected rejected, got ${record.state}`);
    } else if (record?.state !== 'converted') {
      v.push(`${key}: not converted (${record?.state} ${record?.errorCode ?? ''})`);
    } else if (!output || output.meta['importer-source-etag'] !== source.etag) {
      v.push(`${key}: ${outputKey} is ${output ? `from version ${output.meta['importer-source-etag']}` : 'missing'}`);
    } else if (!qcow2Guest(output.body).equals(guest)) v.push(`${key}: ${outputKey} holds another guest`);
  }
  const completions = completedUploads(world).map((c) => `${c.key}@${c.sourceEtag}`);
  const twice = completions.filter((c, i) => completions.indexOf(c) !== i);
  if (twice.length) v.push(`written twice for one version: ${twice.join(', ')}`);
  const records = keys
    .filter((k) => k.startsWith(`${layout.prefix}conversions/`) && k.endsWith('.json'))
    .map((k) => parseConversion(world.objects.get(k)!.body.toString('utf8')));
  const named = new Set(records.filter((r) => r?.state === 'failed').map((r) => r!.uploadId));
  for (const [id, u] of openUploads(world))
    if (!named.has(id) && !u.key.startsWith(`${layout.prefix}fanout/`))
      v.push(`upload ${id} to ${u.key} left open and named by no failed record`);
  // a fan-out folder is removed after the outcome: whatever was there by then must be gone; a
  // worker's write that lands later still (a slow call) is the lifecycle rule's (docs/deployment.md)
  const endedAt = Math.max(0, ...records.map((r) => Date.parse(r?.history.at(-1)?.at ?? '') || 0));
  const fanOut = `${layout.prefix}fanout/`;
  const left = cleanupRefused ? [] : keys.filter((k) => k.startsWith(fanOut) && world.objects.get(k)!.lastModified <= endedAt);
  if (left.length) v.push(`fan-out objects the cleanup left: ${left.join(', ')}`);
  for (const [id, u] of openUploads(world))
    if (!cleanupRefused && u.key.startsWith(fanOut) && u.initiated <= endedAt)
      v.push(`a worker's upload ${id} left open after the outcome`);
  const markers = keys.filter((k) => k.startsWith(`${layout.prefix}conversions/`) && /\.g\d+$/.test(k));
  if (markers.length) v.push(`takeover markers left: ${markers.join(', ')}`);
  return v;
}

/** The guest a qcow2 (as our writer makes it: no compression, no backing file) holds. */
export function qcow2Guest(q: Buffer): Buffer {
  const size = Number(q.readBigUInt64BE(24));
  const cluster = 2 ** q.readUInt32BE(20);
  const perL2 = cluster / 8;
  const l1 = Number(q.readBigUInt64BE(40));
  const guest = Buffer.alloc(size);
  const offset = (entry: bigint) => Number(entry & 0x00ff_ffff_ffff_fe00n);
  for (let c = 0; c * cluster < size; c++) {
    const l2 = offset(q.readBigUInt64BE(l1 + Math.floor(c / perL2) * 8));
    if (!l2) continue;
    const data = offset(q.readBigUInt64BE(l2 + (c % perL2) * 8));
    if (data) q.copy(guest, c * cluster, data, data + Math.min(cluster, size - c * cluster));
  }
  return guest;
}
