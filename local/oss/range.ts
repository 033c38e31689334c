import { OssError } from './errors';

export interface ByteSpan {
  start: number;
  end: number;
  partial: boolean;
}

/**
 * What OSS serves for a Range header (pure). An unsatisfiable range is ignored (200, the
 * whole object) unless `x-oss-range-behavior: standard`, which clips an overlong end and
 * answers 416 for a start past the end.
 */
export function resolveRange(header: string | undefined, size: number, standard: boolean): ByteSpan {
  const whole: ByteSpan = { start: 0, end: size - 1, partial: false };
  if (!header) return whole;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || !(m[1] || m[2])) return whole;
  const s = m[1] ? Number(m[1]) : size - Number(m[2]);
  const e = m[1] ? (m[2] ? Number(m[2]) : size - 1) : size - 1;
  if (s >= 0 && s <= e && e < size) return { start: s, end: e, partial: true };
  if (standard && s < size && s <= e) return { start: s, end: size - 1, partial: true };
  if (standard)
    throw new OssError(416, 'InvalidRange', 'The requested range cannot be satisfied', {
      ActualObjectSize: String(size),
      RangeRequested: header,
    });
  return whole;
}
