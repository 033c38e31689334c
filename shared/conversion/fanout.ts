import { listAll, OssCallError } from '../adapters/object-store';
import { realClock } from '../core/clock';
import { MIN_PART_BYTES } from '../core/conversion';
import { assembleQcow2 } from '../formats/qcow2-assembly';
import { CLUSTER } from '../formats/qcow2-layout';
import type { RangeMap } from '../formats/range-map';
import { ConvertRefusal } from '../formats/refusal';
import type { GuestRange } from '../formats/guest-range';
import type { SourceFormat } from '../formats/registry';
import { stateLayout } from '../state/layout';
import type { ConversionSession } from './conversion-session';
import { ConvertTimeout, writeOutput, type BodyResult, type OpenUpload, type OutputTarget } from './convert-body';
import type { ConvertDeps } from './deps';
import { fanOutKeys, readMapRecord } from './fanout-record';
import { planRanges, type FanOutTask } from './fanout-task';

/** OSS: a part is at most 5 GB; copies stay well under it. */
const MAX_COPY_BYTES = 4 * 2 ** 30;
/** server-side copies in flight at once (each moves up to 4 GiB inside OSS) */
const COPIES_IN_FLIGHT = 4;
/** the assembly's own time, kept from the wait for workers */
const ASSEMBLY_RESERVE_MS = 60_000;

interface Ready {
  map: RangeMap;
  dataKey?: string;
  dataEtag?: string;
}

/**
 * A big source converted by other instances of this function: the guest cut into ranges, a
 * worker invoked per range that has no map yet (a redelivered coordinator invokes only what
 * is missing), the maps awaited, then the output assembled through the same door as the
 * one-pass writer: head, server-side copies of the workers' data, then a tail of tables.
 */
export async function convertFanOut(
  disk: { format: SourceFormat; virtualSize: number },
  source: { size: number },
  session: ConversionSession,
  deps: ConvertDeps,
  open: OpenUpload,
  output: OutputTarget,
): Promise<BodyResult & { ranges: number }> {
  const { bucket, key, etag } = session.record;
  const job = fanOutKeys(stateLayout(deps.config.statePrefix).fanOutPrefix(bucket, key, etag));
  const ranges = planRanges(disk.virtualSize, deps.config.fanOut.workers, deps.config.fanOut.rangeBytes);
  const task = (index: number): Omit<FanOutTask, 'region'> => ({ ...source, bucket, key, etag, ...disk, index, ...ranges[index]! });
  deps.log.info({ event: 'fanout-started', bucket, key, ranges: ranges.length, virtualSize: disk.virtualSize });
  const ready = await awaitMaps(job, ranges, etag, deps, (i) => deps.invokeWorker!(task(i)));
  const assembly = assembleQcow2(
    disk.virtualSize,
    ready.map((r) => r.map),
    { minHeadBytes: MIN_PART_BYTES, minCopyBytes: MIN_PART_BYTES, maxCopyBytes: MAX_COPY_BYTES },
  );
  const body = await writeOutput(session, deps, open, output, async (out) => {
    const copies = assembly.copies.map((c, i) => ({ ...c, part: i + 2 }));
    for (let at = 0; at < copies.length; at += COPIES_IN_FLIGHT)
      await Promise.all(
        copies.slice(at, at + COPIES_IN_FLIGHT).map(async (c) => {
          const r = ready[c.range]!;
          const from = { key: r.dataKey!, etag: r.dataEtag!, offset: c.offset, length: c.length };
          out.addPart(await copyOrForget(deps, out.key, out.uploadId, c.part, from, job.map(c.range)), c.length);
        }),
      );
    const inline = new Map<number, Buffer>();
    for (const i of assembly.inline)
      inline.set(i, await deps.transfer.readRange(ready[i]!.dataKey!, ready[i]!.dataEtag!, 0, ready[i]!.map.stored * CLUSTER));
    for (const chunk of assembly.tail(inline)) await out.write(chunk);
    return assembly.head;
  });
  return { ...body, ranges: ranges.length };
}

/** A copy whose data object changed since its map (someone wrote under the state prefix): the map is dropped, the range redone. */
async function copyOrForget(
  deps: ConvertDeps,
  key: string,
  uploadId: string,
  part: number,
  from: { key: string; etag: string; offset: number; length: number },
  mapKey: string,
) {
  try {
    return await deps.transfer.copyPart(key, uploadId, part, from);
  } catch (err) {
    if (!(err instanceof OssCallError && (err.code === 'PreconditionFailed' || err.code === 'NoSuchKey'))) throw err;
    await deps.store.delete(mapKey);
    throw new OssCallError('FanOutDataChanged', `${from.key} changed after its worker wrote it; the range is converted again`, 412, true);
  }
}

/** Every range's map, invoking a worker for each one missing (once per attempt), until all are there or time runs short. */
async function awaitMaps(
  job: ReturnType<typeof fanOutKeys>,
  ranges: GuestRange[],
  etag: string,
  deps: ConvertDeps,
  invoke: (index: number) => Promise<void>,
): Promise<Ready[]> {
  const clock = deps.clock ?? realClock;
  const giveUpAt = deps.deadline - deps.config.marginMs - ASSEMBLY_RESERVE_MS;
  const ready: (Ready | undefined)[] = new Array(ranges.length);
  const invoked = new Set<number>();
  for (;;) {
    for await (const o of listAll(deps.store, job.job)) {
      const i = job.indexOf(o.key);
      if (i === undefined || i >= ranges.length || ready[i]) continue;
      const text = await deps.store.getText(o.key);
      if (text === undefined) continue;
      const read = readMapRecord(text, { job: job.job, etag, ...ranges[i]! });
      if (read.kind === 'failed') throw refusalFrom(read.code, read.reason);
      if (read.kind === 'ready') ready[i] = read;
      else {
        // not this job's: removed, so the range's worker can write its own
        deps.log.warn({ event: 'fanout-map-refused', key: o.key, reason: read.reason });
        await deps.store.delete(o.key);
      }
    }
    const missing = ranges.map((_, i) => i).filter((i) => !ready[i]);
    if (!missing.length) return ready as Ready[];
    for (const i of missing.filter((i) => !invoked.has(i))) {
      await invoke(i);
      invoked.add(i);
    }
    if (clock.now() > giveUpAt)
      throw new OssCallError(
        'FanOutIncomplete',
        `${missing.length} of ${ranges.length} guest ranges had no worker result when the function's time ran short; FC's retry waits for them`,
        504,
        true,
      );
    await clock.sleep(deps.config.fanOut.pollMs);
  }
}

/** A worker's refusal as the coordinator's own (superseded: a ConvertRefusal the conversion's end treats as the source overwritten). */
function refusalFrom(code: string, reason: string): Error {
  if (code === 'convert-timeout') return new ConvertTimeout(`a fan-out worker: ${reason}`);
  return new ConvertRefusal(code, `a fan-out worker: ${reason}`);
}

/** The job's folder removed (maps, data objects, an attempt's orphan): after the outcome is recorded. */
export async function removeFanOutJob(deps: ConvertDeps, record: { bucket: string; key: string; etag: string }): Promise<void> {
  const job = stateLayout(deps.config.statePrefix).fanOutPrefix(record.bucket, record.key, record.etag);
  try {
    // a worker killed mid-range left its data object's upload open
    for (const u of await deps.transfer.pendingUploads(job, true)) await deps.transfer.abort(u.key, u.uploadId);
    const keys: string[] = [];
    for await (const o of listAll(deps.store, job)) keys.push(o.key);
    for (let at = 0; at < keys.length; at += 1000) await deps.store.deleteMany(keys.slice(at, at + 1000));
  } catch (err) {
    // the lifecycle rule on the fan-out folders (docs/deployment.md) removes what this misses
    deps.log.warn({ event: 'fanout-cleanup-failed', key: record.key, reason: String((err as Error).message) });
  }
}
