import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, type FaultKind } from '../helpers/world';
import { runScenario } from './explorer';
import { SCENARIOS } from './scenarios';

/**
 * Every scenario, first clean, then with each fault kind at each remote call position,
 * then with pairs: a crash (or a lost answer) at one call and another fault at each of the
 * calls that follow. Each schedule must leave the world with every promise kept.
 */

const PAIR_FIRST: FaultKind[] = ['crash-after', 'crash-before', 'lost-answer', 'slow'];
const PAIR_SECOND: FaultKind[] = ['lost-answer', 'fail-until-deadline', 'crash-after', 'slow'];
const PAIR_SPAN = 3;

describe('fault explorer: every schedule keeps exactly-once, truthful tags and no stuck state', () => {
  let explored = 0;
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      const clean = await runScenario(scenario, new Map());
      expect(clean.violations).toEqual([]);
      const passed = clean.results.map((r) => `${r.key} ${r.outcome}`);
      expect(passed).toEqual(expect.arrayContaining(clean.mustPass));
      const positions = clean.world.calls;
      const failures: string[] = [];
      const check = async (faults: Map<number, FaultKind>) => {
        const schedule = [...faults].map(([p, k]) => `${k}@${p}`).join(' + ');
        const run = await runScenario(scenario, faults);
        explored += 1;
        if (run.violations.length && failures.length < 5)
          failures.push(`${schedule}: ${run.violations.join('; ')} [calls: ${run.world.callLog.slice(0, 16).join(', ')}]`);
      };
      for (let p = 0; p < positions; p++) for (const kind of FAULT_KINDS) await check(new Map([[p, kind]]));
      for (let p = 0; p < positions; p++) {
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
      expect(failures).toEqual([]);
    });
  }
  it('explored at least 2,000 schedules', () => {
    console.log(`fault explorer: ${explored} schedules explored, all clean`);
    expect(explored).toBeGreaterThanOrEqual(2_000);
  });
});
