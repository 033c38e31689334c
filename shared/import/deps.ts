import type { EnsApi } from '../adapters/ens';
import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import type { StateLayout } from '../state/layout';
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
  /** this instance's next ImportImage slot (the function's share of ENS's rate) */
  pace?: (deadline: number) => Promise<void>;
  /** an asynchronous invocation of the converter with this event (config.converterFunction) */
  handOff?: (event: ObjectEvent) => Promise<void>;
}

/** What an import session needs: the pipeline's adapters, the state layout and a clock. */
export interface SessionDeps {
  config: ImporterConfig;
  store: ObjectStore;
  ens: EnsApi;
  log: Logger;
  layout: StateLayout;
  clock: Clock;
  deadline: number;
  /** Test seam: called at each named step; a promise that never settles is a crash there. */
  onStep?: (step: string) => void | Promise<void>;
  /** this instance's next ImportImage slot (the function's share of ENS's rate) */
  pace?: (deadline: number) => Promise<void>;
}
