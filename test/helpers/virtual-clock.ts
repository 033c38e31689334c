import type { Clock } from '../../shared/core/clock';

/**
 * Virtual time for the fault explorer: `sleep` parks a task until the run loop moves the
 * clock to its wake-up time. Between wake-ups every microtask runs to quiescence, so
 * a schedule is a pure function of its inputs and runs in microseconds.
 */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: { at: number; seq: number; fire: () => void }[] = [];
  private seed: number;

  constructor(start = Date.parse('2026-11-28T00:00:00Z'), seed = 1) {
    this.t = start;
    this.seed = seed;
  }

  now = (): number => this.t;

  sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => this.at(this.t + Math.max(0, ms), resolve));

  /** a seeded generator (mulberry32): the same schedule gives the same jitter */
  random = (): number => {
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let x = this.seed;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };

  at(when: number, fire: () => void): void {
    this.timers.push({ at: when, seq: this.seq++, fire });
  }

  /** Run until nothing is scheduled before `until`; returns false if the step budget ran out. */
  async run(until = Number.POSITIVE_INFINITY, maxSteps = 200_000): Promise<boolean> {
    for (let steps = 0; steps < maxSteps; steps++) {
      await new Promise<void>((r) => setImmediate(r));
      if (!this.timers.length) return true;
      let next = 0;
      for (let i = 1; i < this.timers.length; i++) {
        const a = this.timers[i]!;
        const b = this.timers[next]!;
        if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) next = i;
      }
      const timer = this.timers[next]!;
      if (timer.at > until) {
        this.t = until;
        return true;
      }
      this.timers.splice(next, 1);
      this.t = Math.max(this.t, timer.at);
      timer.fire();
    }
    return false;
  }
}
