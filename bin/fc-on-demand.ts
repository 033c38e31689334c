import type { FcInspector, FcInvoker, FcTarget } from '../shared/adapters/fc';

/**
 * The FC SDKs (about a megabyte of the CLI) load on the first call that needs FC, not at every
 * start: only `--via fc` and `doctor` reach FC, and `--version` should not pay for them.
 */
const adapter = () => import('../shared/adapters/fc');

export function fcInvokerOnDemand(t: FcTarget): FcInvoker {
  let made: Promise<FcInvoker> | undefined;
  return {
    invokeAsync: async (fn, payload) => {
      made ??= adapter().then((m) => m.createFcInvoker(t));
      return (await made).invokeAsync(fn, payload);
    },
  };
}

export function fcInspectorOnDemand(t: Omit<FcTarget, 'api' | 'service'>): FcInspector {
  let made: Promise<FcInspector> | undefined;
  const get = () => (made ??= adapter().then((m) => m.createFcInspector(t)));
  return {
    functionRole: async (fn) => (await get()).functionRole(fn),
    triggers: async (fn) => (await get()).triggers(fn),
  };
}
