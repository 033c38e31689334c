/** Exponential backoff with full jitter, bounded by a deadline rather than a count. */

export interface RetryOptions {
  /** epoch ms after which no new attempt starts */
  deadline: number;
  /** attempts at most, whatever time is left */
  maxAttempts?: number;
  baseMs?: number;
  maxMs?: number;
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class RetriesExhaustedError extends Error {
  constructor(
    readonly lastError: unknown,
    readonly attempts: number,
  ) {
    super(`gave up after ${attempts} attempts`);
  }
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}

/**
 * Run `fn` until it succeeds, a permanent error is thrown (rethrown as is), or the next
 * attempt could not start before the deadline (RetriesExhaustedError). `fn` gets the time left.
 */
export async function retryTransient<T>(
  fn: (attempt: number, msLeft: number) => Promise<T>,
  isTransient: (err: unknown) => boolean,
  options: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const base = options.baseMs ?? 200;
  const max = options.maxMs ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return { value: await fn(attempt, options.deadline - now()), attempts: attempt + 1 };
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (options.maxAttempts !== undefined && attempt + 1 >= options.maxAttempts) throw new RetriesExhaustedError(err, attempt + 1);
      const delay = backoffDelay(attempt, base, max, random);
      if (now() + delay >= options.deadline) throw new RetriesExhaustedError(err, attempt + 1);
      await sleep(delay);
    }
  }
}
