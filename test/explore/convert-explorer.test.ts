import { describe, expect, it } from 'vitest';
import type { FaultKind } from '../helpers/world';
import { exploreSchedules, scheduleName } from './schedules';
import { runConvertScenario, type ConvertScenario } from './convert-explorer';

/**
 * The converter under every schedule: each scenario clean, then each fault kind at each remote
 * call, then pairs (a crash, a lost or slow answer at one call, and another fault at each of
 * the next three). Each must end with one qcow2 per version holding exactly the guest, the
 * record and the tags agreeing, no upload left open unless a failed record names it.
 */

const MiB = 2 ** 20;
/** a raw guest of 1 MiB: data over several 256 KiB parts, zeros between (the explorer's sizes) */
function guest(seed: number): Buffer {
  const g = Buffer.alloc(MiB);
  for (let i = 0; i < 700 * 1024; i += 4096) g.writeUInt32BE((seed * 2654435761 + i) >>> 0, i);
  g.fill(seed, 900 * 1024, 900 * 1024 + 70_000);
  return g;
}
const KEY = 'images/ubuntu/22.04/disk.raw';

const SCENARIOS: Record<string, ConvertScenario> = {
  'one upload': (s) => {
    const g = guest(1);
    s.deliver(KEY, s.upload(KEY, g, 0), 1);
    s.expect.set(KEY, g);
  },
  'a redelivered event': (s) => {
    const g = guest(2);
    const up = s.upload(KEY, g, 0);
    s.deliver(KEY, up, 1);
    s.deliver(KEY, up, 40_000);
    s.expect.set(KEY, g);
  },
  'two deliveries at once': (s) => {
    const g = guest(3);
    const up = s.upload(KEY, g, 0);
    s.deliver(KEY, up, 1);
    s.deliver(KEY, up, 1);
    s.expect.set(KEY, g);
  },
  'a corrected upload while the first converts': (s) => {
    s.deliver(KEY, s.upload(KEY, guest(4), 0), 1);
    const g = guest(5);
    s.deliver(KEY, s.upload(KEY, g, 5), 6);
    s.expect.set(KEY, g);
  },
  'a broken disk': (s) => {
    const key = 'images/ubuntu/22.04/broken.vhd';
    const b = Buffer.alloc(4096);
    b.write('conectix', 0, 'latin1');
    s.deliver(key, s.upload(key, b, 0), 1);
    s.expect.set(key, false);
  },
};

describe('converter fault explorer: one qcow2 per version, truthful record and tags, nothing left open', () => {
  let explored = 0;
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      const clean = await runConvertScenario(scenario, new Map());
      expect(clean.violations).toEqual([]);
      const positions = clean.world.calls;
      const failures: string[] = [];
      const check = async (faults: Map<number, FaultKind>) => {
        const run = await runConvertScenario(scenario, faults);
        explored += 1;
        if (run.violations.length && failures.length < 5)
          failures.push(`${scheduleName(faults)}: ${run.violations.join('; ')} [${run.world.callLog.join(', ')}]`);
      };
      // pairs on the scenarios a second fault can hurt differently (the others share their calls)
      await exploreSchedules(positions, check, name === 'one upload' || name === 'a corrected upload while the first converts');
      expect(failures).toEqual([]);
    }, 300_000);
  }
  // the same promises when the conversion fans out: a coordinator and four workers, each with FC's retries
  for (const name of ['one upload', 'a redelivered event', 'a corrected upload while the first converts']) {
    it(`fanned out: ${name}`, async () => {
      const scenario = SCENARIOS[name]!;
      const clean = await runConvertScenario(scenario, new Map(), true);
      expect(clean.violations).toEqual([]);
      expect(clean.world.callLog.some((c) => c.includes('UploadPartCopy'))).toBe(true);
      const failures: string[] = [];
      await exploreSchedules(
        clean.world.calls,
        async (faults) => {
          const run = await runConvertScenario(scenario, faults, true);
          explored += 1;
          if (run.violations.length && failures.length < 5)
            failures.push(`${scheduleName(faults)}: ${run.violations.join('; ')} [${run.world.callLog.join(', ')}]`);
        },
        name === 'one upload',
      );
      expect(failures).toEqual([]);
    }, 600_000);
  }

  it('explored at least 1,000 schedules', () => {
    console.log(`converter fault explorer: ${explored} schedules explored, all clean`);
    expect(explored).toBeGreaterThanOrEqual(1_000);
  });
});
