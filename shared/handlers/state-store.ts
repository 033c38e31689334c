import type { ObjectStore } from '../adapters/object-store';
import { createObjectStore } from '../adapters/oss';
import type { InvocationScope } from '../runtime/fc-runtime';
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

/** The store of an event's bucket, its calls bounded by the invocation's deadline, its state authenticated. */
export const eventStore = (
  c: { statePrefix: string; stateKeys?: StateKeys; ossEndpoint?: string },
  scope: Pick<InvocationScope, 'credentials' | 'deadline' | 'log'>,
  region: string,
  bucket: string,
): ObjectStore =>
  stateStore(
    createObjectStore(
      { region, bucket, endpoint: c.ossEndpoint, internal: true, credentials: scope.credentials },
      { deadline: scope.deadline },
    ),
    c,
    scope.log,
  );
