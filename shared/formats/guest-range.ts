/**
 * A stretch of the guest one conversion worker writes: `[from, to)` in guest bytes. Its start
 * is on a boundary of the format's allocation unit (block, grain), so a reader starts at a
 * table entry and never reads what lies before it; its end is such a boundary or the disk's end.
 */
export interface GuestRange {
  from: number;
  to: number;
}

/** Where a reader starts: the range's start, checked against the unit its tables are in. */
export function rangeStart(range: GuestRange | undefined, unit: number): number {
  if (!range) return 0;
  if (range.from % unit !== 0 || range.from < 0 || range.to <= range.from)
    throw new Error(`guest range [${range.from}, ${range.to}) does not start on a ${unit}-byte boundary`);
  return range.from;
}
