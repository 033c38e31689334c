import type { ObjectStore } from '../adapters/object-store';
import type { StateKeys } from '../core/state-mac';
import type { Logger } from '../runtime/logger';
import { withStateAuth } from '../state/state-auth';

/** A function's store: its state objects signed and verified with the instance's keys, a forgery logged. */
export const stateStore = (store: ObjectStore, c: { statePrefix: string; stateKeys?: StateKeys }, log: Logger): ObjectStore =>
  withStateAuth(store, {
    prefix: c.statePrefix,
    keys: c.stateKeys,
    onUnverified: (key, reason) => log.warn({ event: 'state-unverified', key, reason }),
  });
