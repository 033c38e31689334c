import type { EnsApi } from '../adapters/ens';
import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import type { ImporterConfig } from '../runtime/config';
import type { Logger } from '../runtime/logger';

/** What one invocation hands the pipeline: configuration, the adapters, its identity and deadline. */
export interface PipelineDeps {
  config: ImporterConfig;
  /** the object store of the event's bucket */
  store: ObjectStore;
  ens: EnsApi;
  log: Logger;
  requestId: string;
  /** epoch ms by which the invocation must be done (function timeout less a margin) */
  deadline: number;
  clock?: Clock;
  /** Test seam: called at each named step; a promise that never settles is a crash there. */
  onStep?: (step: string) => void | Promise<void>;
}
