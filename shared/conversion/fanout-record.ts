import { decodeRangeMap, type RangeMap } from '../formats/range-map';

/**
 * The records of a fan-out job (pure): each worker's map, named by its range's index under the
 * version's folder, and its data object, named by the range and the attempt that wrote it.
 */

export interface MapRecord {
  /** the source version the range was read from (If-Match) */
  etag: string;
  format?: string;
  from?: number;
  to?: number;
  stored?: number;
  bitmap?: string;
  dataKey?: string;
  dataEtag?: string;
  /** a refusal: the code and reason the conversion ends with */
  failed?: string;
  reason?: string;
}

export const fanOutKeys = (job: string) => ({
  job,
  map: (index: number) => `${job}map-${index}.json`,
  data: (index: number, attempt: string) => `${job}data-${index}-${attempt.replace(/[^\w-]/g, '_')}`,
  /** the index a map key names, or undefined for any other key in the folder */
  indexOf: (key: string): number | undefined => {
    const m = /^map-(\d{1,6})\.json$/.exec(key.slice(job.length));
    return key.startsWith(job) && m ? Number(m[1]) : undefined;
  },
});

export type ReadMap =
  | { kind: 'ready'; map: RangeMap; dataKey?: string; dataEtag?: string }
  | { kind: 'failed'; code: string; reason: string }
  /** a record this job cannot use: another version's, another range's, or one that does not add up */
  | { kind: 'unusable'; reason: string };

/** A map record read back and checked against what the assembler planned for that range. */
export function readMapRecord(text: string, expect: { job: string; etag: string; from: number; to: number }): ReadMap {
  let r: MapRecord;
  try {
    r = JSON.parse(text) as MapRecord;
  } catch {
    return { kind: 'unusable', reason: 'not JSON' };
  }
  if (r?.etag !== expect.etag) return { kind: 'unusable', reason: `made from ETag ${String(r?.etag)}` };
  if (typeof r.failed === 'string') return { kind: 'failed', code: r.failed.slice(0, 64), reason: String(r.reason ?? '').slice(0, 2048) };
  try {
    const map = decodeRangeMap(r);
    if (map.from !== expect.from || map.to !== expect.to)
      return { kind: 'unusable', reason: `range ${map.from}-${map.to}, not ${expect.from}-${expect.to}` };
    const hasData = typeof r.dataKey === 'string' && r.dataKey.startsWith(expect.job) && typeof r.dataEtag === 'string';
    if (map.stored > 0 !== hasData) return { kind: 'unusable', reason: 'its data object does not match its stored clusters' };
    return { kind: 'ready', map, ...(hasData ? { dataKey: r.dataKey, dataEtag: r.dataEtag } : {}) };
  } catch (err) {
    return { kind: 'unusable', reason: (err as Error).message };
  }
}
