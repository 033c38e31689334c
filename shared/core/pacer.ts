import type { Clock } from './clock';

/**
 * Spaces one instance's calls so that the function's instances together stay under a rate:
 * FC caps the function at `instances` (s.yaml reservedConcurrency), ENS allows `qps`, so each
 * instance starts a call at most every instances/qps seconds. A throttled window is then the
 * exception, not what every burst wastes its retries on.
 */
export class Pacer {
  private nextStart: number | undefined;

  constructor(
    readonly intervalMs: number,
    private readonly clock: Clock,
  ) {}

  /** Wait for this instance's next slot; never past `deadline` (the call then starts late, and may be throttled). */
  async slot(deadline: number): Promise<void> {
    const now = this.clock.now();
    // a new instance starts at a random point of its interval: a burst's instances start
    // together, and their first calls would otherwise all land in ENS's first second
    this.nextStart ??= now + Math.floor(this.clock.random() * this.intervalMs);
    const start = Math.max(now, this.nextStart);
    this.nextStart = start + this.intervalMs;
    const wait = Math.min(start, deadline) - now;
    if (wait > 0) await this.clock.sleep(wait);
  }
}

/** The spacing for `qps` shared by `instances`; 0 (no pacing) when either is unknown. */
export function pacingIntervalMs(qps: number | undefined, instances: number | undefined): number {
  return qps && instances ? Math.ceil((instances / qps) * 1000) : 0;
}
