/** The bench's two statistics: the median of runs, and rounding for the report. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
