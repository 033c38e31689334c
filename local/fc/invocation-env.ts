import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * FC runs every function in a process of its own, with its own environment. The stand-in runs
 * them in one process, so it hands each invocation its function's environment through an
 * AsyncLocalStorage behind `process.env`: the code reads `process.env` as it does in FC, and two
 * functions running at once each see their own values. Nothing is written into the real
 * environment; outside an invocation `process.env` is the process's own.
 */

const current = new AsyncLocalStorage<Readonly<Record<string, string>>>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const real = process.env;
  const overlay = () => current.getStore();
  process.env = new Proxy(real, {
    get(target, key) {
      const own = typeof key === 'string' ? overlay()?.[key] : undefined;
      return own ?? Reflect.get(target, key);
    },
    has(target, key) {
      return (typeof key === 'string' && overlay()?.[key] !== undefined) || Reflect.has(target, key);
    },
    ownKeys(target) {
      return [...new Set([...Reflect.ownKeys(target), ...Object.keys(overlay() ?? {})])];
    },
    getOwnPropertyDescriptor(target, key) {
      const own = typeof key === 'string' ? overlay()?.[key] : undefined;
      if (own !== undefined) return { value: own, writable: true, enumerable: true, configurable: true };
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
  });
}

/** Run `work` (and everything it starts) with `env` laid over the process's environment. */
export function withInvocationEnv<T>(env: Readonly<Record<string, string>>, work: () => T): T {
  install();
  return current.run(env, work);
}
