/**
 * Fault injection per operation name (e.g. `GetObject`, `ImportImage`).
 * A rule fires at `rate` (0..1) and either adds latency, drops the connection,
 * or answers with an error status/code; `times` bounds how often it fires.
 */
export interface FaultRule {
  rate?: number;
  times?: number;
  latencyMs?: number;
  drop?: boolean;
  status?: number;
  code?: string;
  message?: string;
  /** ENS only: answer with a non-JSON HTML page, as a gateway in front of the API does. */
  html?: boolean;
  /** OSS only: the rule applies to keys under this prefix alone */
  keyPrefix?: string;
  /** let this many matching requests through before the rule fires */
  skip?: number;
}

export interface FaultDecision {
  latencyMs: number;
  drop: boolean;
  error?: { status: number; code: string; message: string; html: boolean };
}

/** Small seeded PRNG so a chaos run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
}

export class FaultInjector {
  private readonly rules = new Map<string, FaultRule[]>();
  private readonly random: () => number;
  readonly fired = new Map<string, number>();

  constructor(seed = 42) {
    this.random = seededRandom(seed);
  }

  /** Add a rule for an operation (`*` matches every operation). */
  inject(operation: string, rule: FaultRule): void {
    const list = this.rules.get(operation) ?? [];
    list.push({ ...rule });
    this.rules.set(operation, list);
  }

  clear(operation?: string): void {
    if (operation) this.rules.delete(operation);
    else this.rules.clear();
  }

  decide(operation: string, key?: string): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, drop: false };
    for (const rule of [...(this.rules.get(operation) ?? []), ...(this.rules.get('*') ?? [])]) {
      if (rule.keyPrefix !== undefined && !key?.startsWith(rule.keyPrefix)) continue;
      if (rule.skip) {
        rule.skip -= 1;
        continue;
      }
      if (rule.times !== undefined && rule.times <= 0) continue;
      if (this.random() >= (rule.rate ?? 1)) continue;
      if (rule.times !== undefined) rule.times -= 1;
      this.fired.set(operation, (this.fired.get(operation) ?? 0) + 1);
      decision.latencyMs += rule.latencyMs ?? 0;
      if (rule.drop) decision.drop = true;
      if (rule.status && !decision.error) {
        decision.error = {
          status: rule.status,
          code: rule.code ?? 'InternalError',
          message: rule.message ?? 'Injected fault',
          html: rule.html ?? false,
        };
      }
    }
    return decision;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
