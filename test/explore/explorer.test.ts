import { describe, expect, it } from 'vitest';
import type { FaultKind } from '../helpers/world';
import { exploreSchedules, scheduleName } from './schedules';
import { runScenario } from './explorer';
import { SCENARIOS } from './scenarios';

/**
 * Every scenario, first clean, then with each fault kind at each remote call position,
 * then with pairs: a crash (or a lost answer) at one call and another fault at each of the
 * calls that follow. Each schedule must leave the world with every promise kept.
 */

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
        const schedule = scheduleName(faults);
        const run = await runScenario(scenario, faults);
        explored += 1;
        if (run.violations.length && failures.length < 5)
          failures.push(`${schedule}: ${run.violations.join('; ')} [calls: ${run.world.callLog.slice(0, 16).join(', ')}]`);
      };
      await exploreSchedules(positions, check);
      expect(failures).toEqual([]);
      // an exhaustive enumeration, not a timing: its time is the number of schedules (see docs/reliability.md)
    }, 600_000);
  }
  it('explored at least 2,000 schedules', () => {
    console.log(`fault explorer: ${explored} schedules explored, all clean`);
    expect(explored).toBeGreaterThanOrEqual(2_000);
  });
});
