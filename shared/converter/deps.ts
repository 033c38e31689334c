import type { ObjectStore } from '../adapters/object-store';
import type { ObjectTransfer } from '../adapters/oss-transfer';
import type { Clock } from '../core/clock';
import type { Logger } from '../runtime/logger';

/** The converter's settings (read once per instance). */
export interface ConverterConfig {
  statePrefix: string;
  watchedPrefix: string;
  /** where a source's qcow2 goes: `{dir}{name}.qcow2` by default */
  outputTemplate: string;
  /** the rules file's limits.maxVirtualSizeGiB, in bytes */
  maxVirtualBytes: number;
  /** stop converting this long before the deadline, to abort and say why */
  marginMs: number;
  ossEndpoint?: string;
}

/** What one invocation hands the converter. */
export interface ConvertDeps {
  config: ConverterConfig;
  store: ObjectStore;
  transfer: ObjectTransfer;
  log: Logger;
  requestId: string;
  deadline: number;
  clock?: Clock;
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
