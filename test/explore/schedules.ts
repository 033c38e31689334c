import { FAULT_KINDS, type FaultKind } from '../helpers/world';

/** Pairs: a crash (or a lost or slow answer) at one call, and another fault at each of the calls that follow. */
const PAIR_FIRST: FaultKind[] = ['crash-after', 'crash-before', 'lost-answer', 'slow'];
const PAIR_SECOND: FaultKind[] = ['lost-answer', 'fail-until-deadline', 'crash-after', 'slow'];
const PAIR_SPAN = 3;

/** Every fault kind at each of `positions` remote calls, then (when asked) the pairs. */
export async function exploreSchedules(
  positions: number,
  check: (faults: Map<number, FaultKind>) => Promise<void>,
  pairs = true,
): Promise<void> {
  for (let p = 0; p < positions; p++) for (const kind of FAULT_KINDS) await check(new Map([[p, kind]]));
  if (!pairs) return;
  for (let p = 0; p < positions; p++)
    for (const first of PAIR_FIRST)
      for (let q = p + 1; q <= p + PAIR_SPAN; q++)
        for (const second of PAIR_SECOND)
          await check(
            new Map([
              [p, first],
              [q, second],
            ]),
          );
}

/** A schedule as the failure report names it. */
export const scheduleName = (faults: Map<number, FaultKind>): string => [...faults].map(([p, k]) => `${k}@${p}`).join(' + ');
