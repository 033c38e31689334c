import type { ObjectStore } from '../adapters/object-store';
import type { ObjectTransfer } from '../adapters/oss-transfer';
import type { Clock } from '../core/clock';
import type { ConverterConfig } from '../runtime/config';
import type { Logger } from '../runtime/logger';
import type { FanOutTask } from './fanout-task';

export type { ConverterConfig } from '../runtime/config';

/** What one invocation hands the converter. */
export interface ConvertDeps {
  config: ConverterConfig;
  store: ObjectStore;
  transfer: ObjectTransfer;
  log: Logger;
  requestId: string;
  deadline: number;
  clock?: Clock;
  /** hands a fan-out worker its task (FC: an asynchronous invocation of this function, in the event's region); unset: no fan-out */
  invokeWorker?: (task: Omit<FanOutTask, 'region'>) => Promise<void>;
  /** Test seam: called at each named step; a promise that never settles is a crash there. */
  onStep?: (step: string) => void | Promise<void>;
  /** Test seam: smaller source blocks and parts, so the fault explorer moves little data */
  sizes?: { block: number; part: (n: number) => number };
}

/** What a conversion wrote, for its log line and result. */
export interface Converted {
  format: string;
  outputKey: string;
  outputEtag: string;
  virtualSize?: number;
  outputBytes?: number;
  parts?: number;
  sourceRequests: number;
  /** an OVA's disks, in order */
  disks?: string[];
}
