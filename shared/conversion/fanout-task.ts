import type { GuestRange } from '../formats/guest-range';
import { CLUSTER, L2_SPAN } from '../formats/qcow2-layout';
import type { SourceFormat } from '../formats/registry';

/**
 * What a fan-out worker is handed (pure): which version of which source, in which format, and
 * which guest range of it. The worker trusts none of it for where it writes: its keys come
 * from the state layout, and every read is If-Match the ETag named here.
 */

export const FANOUT_FIELD = 'ensImporterFanOut';

export interface FanOutTask {
  region: string;
  bucket: string;
  key: string;
  etag: string;
  /** the source object's size */
  size: number;
  format: SourceFormat;
  virtualSize: number;
  index: number;
  from: number;
  to: number;
}

const FORMATS: readonly string[] = ['raw', 'vhd', 'vhdx', 'vmdk'];

export const fanOutPayload = (task: FanOutTask): string => JSON.stringify({ [FANOUT_FIELD]: task });

/** The task of a worker payload; undefined for any other payload (an OSS event); an error for a task that does not add up. */
export function parseFanOutTask(payload: unknown): FanOutTask | { error: string } | undefined {
  const t = (payload as Record<string, unknown> | null)?.[FANOUT_FIELD] as Record<string, unknown> | undefined;
  if (t === undefined) return undefined;
  const strings = ['region', 'bucket', 'key', 'etag'].every((f) => typeof t?.[f] === 'string' && (t[f] as string).length > 0);
  const numbers = ['size', 'virtualSize', 'index', 'from', 'to'].every((f) => Number.isSafeInteger(t?.[f]) && (t[f] as number) >= 0);
  if (!strings || !numbers || !FORMATS.includes(t.format as string)) return { error: 'a fan-out task needs its source, format and range' };
  const task = t as unknown as FanOutTask;
  if (task.from % CLUSTER !== 0 || task.to <= task.from || task.to > task.virtualSize)
    return { error: `fan-out range [${task.from}, ${task.to}) does not fit a guest of ${task.virtualSize} bytes` };
  return task;
}

/**
 * The guest cut into ranges: `rangeBytes` each (0: the guest shared among the workers, each
 * range a whole number of L2 spans, 512 MiB, which every format's block divides).
 */
export function planRanges(virtualSize: number, workers: number, rangeBytes: number): GuestRange[] {
  const each = rangeBytes > 0 ? rangeBytes : Math.max(1, Math.ceil(virtualSize / workers / L2_SPAN)) * L2_SPAN;
  const ranges: GuestRange[] = [];
  for (let from = 0; from < virtualSize; from += each) ranges.push({ from, to: Math.min(virtualSize, from + each) });
  return ranges;
}

/** Whether a conversion fans out: a big enough source, a format read by ranges, and somewhere to send workers. */
export function fansOut(format: string, size: number, minBytes: number, canInvoke: boolean): boolean {
  return canInvoke && minBytes > 0 && size >= minBytes && FORMATS.includes(format);
}
