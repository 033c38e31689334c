import { OssCallError } from '../adapters/object-store';
import { realClock } from '../core/clock';
import { MultipartOutput } from '../formats/multipart-output';
import { CLUSTER } from '../formats/qcow2-layout';
import type { GuestPiece } from '../formats/qcow2-writer';
import { blockCachedSource } from '../formats/ranged-source';
import { encodeRangeMap, RangeCollector } from '../formats/range-map';
import { ConvertRefusal } from '../formats/refusal';
import { openDiskSource } from '../formats/registry';
import { parseConversion } from '../state/conversion-record';
import { stateLayout } from '../state/layout';
import { CLOCK_EVERY, ConvertTimeout } from './convert-body';
import type { ConvertDeps } from './deps';
import type { FanOutTask } from './fanout-task';
import { fanOutKeys, type MapRecord } from './fanout-record';

export interface RangeResult {
  outcome: 'converted' | 'duplicate' | 'refused';
  index: number;
  stored?: number;
  errorCode?: string;
  reason?: string;
}

/**
 * A fan-out worker: one guest range of the source version to a data object (its stored
 * clusters, in order) and a map, under the version's fan-out folder. The map is created once
 * (forbid-overwrite): a redelivered task finds it and stops, and the losing attempt of a race
 * removes its own data object. A refusal (the source changed, a bad range) is written as the
 * map, so the assembler stops waiting; anything else is thrown for FC to retry.
 */
export async function convertRange(task: FanOutTask, deps: ConvertDeps): Promise<RangeResult> {
  const layout = stateLayout(deps.config.statePrefix);
  const keys = fanOutKeys(layout.fanOutPrefix(task.bucket, task.key, task.etag));
  const mapKey = keys.map(task.index);
  const { index } = task;
  if (await deps.store.getText(mapKey)) return { outcome: 'duplicate', index };
  // a task redelivered after the conversion ended: its folder is gone, and nobody would remove a new one
  const record = parseConversion(await deps.store.getText(layout.conversionKey(task.bucket, task.key, task.etag)));
  if (record?.state !== 'converting') return { outcome: 'duplicate', index, reason: `the conversion is ${record?.state ?? 'not claimed'}` };
  const dataKey = keys.data(index, deps.requestId);
  let uploadId: string | undefined;
  try {
    const source = blockCachedSource(
      task.size,
      (offset, length) => deps.transfer.readRange(task.key, task.etag, offset, length),
      deps.sizes?.block,
      deps.config.streams,
    );
    const disk = await openDiskSource(task.format, source, deps.config.maxVirtualBytes, task);
    if (disk.virtualSize !== task.virtualSize)
      throw new ConvertRefusal(
        'convert-fanout-mismatch',
        `the source reads as ${disk.virtualSize} guest bytes, the task says ${task.virtualSize}`,
      );
    uploadId = await deps.transfer.initiate(dataKey, {}, true);
    const out = new MultipartOutput(deps.transfer, dataKey, uploadId, true, deps.sizes?.part, deps.config.streams, 1);
    const collector = new RangeCollector(task, (c) => out.write(c));
    await collectRange(disk.clusters, collector, deps);
    const map = collector.finish();
    let dataEtag: string | undefined;
    if (map.stored > 0) {
      await out.complete(undefined);
      uploadId = undefined;
      dataEtag = (await deps.store.head(dataKey))?.etag;
      if (!dataEtag) throw new OssCallError('FanOutDataChanged', `${dataKey} was removed right after it was written`, 404, true);
    } else {
      await deps.transfer.abort(dataKey, uploadId);
      uploadId = undefined;
    }
    const record: MapRecord = { etag: task.etag, format: task.format, ...encodeRangeMap(map), ...(dataEtag ? { dataKey, dataEtag } : {}) };
    if (!(await deps.store.createIfAbsent(mapKey, JSON.stringify(record)))) {
      // another attempt's map stands: this attempt's data is nobody's
      if (dataEtag) await deps.store.delete(dataKey);
      return { outcome: 'duplicate', index };
    }
    return { outcome: 'converted', index, stored: map.stored };
  } catch (err) {
    if (uploadId) await deps.transfer.abort(dataKey, uploadId).catch(() => false);
    const refusal = refusalOf(err);
    if (!refusal) throw err;
    await deps.store.createIfAbsent(mapKey, JSON.stringify({ etag: task.etag, failed: refusal.code, reason: refusal.reason }));
    return { outcome: 'refused', index, errorCode: refusal.code, reason: refusal.reason };
  }
}

async function collectRange(pieces: AsyncIterable<GuestPiece>, c: RangeCollector, deps: ConvertDeps) {
  const clock = deps.clock ?? realClock;
  const stopAt = deps.deadline - deps.config.marginMs;
  let n = 0;
  for await (const piece of pieces) {
    await c.piece(piece);
    if (++n % CLOCK_EVERY === 0 && clock.now() > stopAt)
      throw new ConvertTimeout(
        `guest range ${c.range.from}-${c.range.to} did not convert before the function's time ran out (${c.clusters * CLUSTER} bytes)`,
      );
  }
}

/** What no retry of this task changes: said in the map for the assembler. */
function refusalOf(err: unknown): { code: string; reason: string } | undefined {
  if (err instanceof ConvertRefusal || err instanceof ConvertTimeout) return { code: err.code, reason: err.message };
  if (err instanceof OssCallError && (err.code === 'PreconditionFailed' || err.code === 'NoSuchKey'))
    return { code: 'superseded', reason: 'the source was overwritten or removed while it was converted' };
  // OSS answering badly is worth FC's retry; our own error on this range is not
  if (!(err instanceof OssCallError)) return { code: 'convert-fanout-failed', reason: String((err as Error)?.message ?? err) };
  return undefined;
}
