import type { PreviousPolicy } from '../core/rules';
import type { Notify } from '../runtime/notifier';
import type { EnsApi } from '../adapters/ens';
import type { ObjectStore } from '../adapters/object-store';
import type { KeyHistoryScan } from './key-history-scan';
import type { Clock } from '../core/clock';
import type { Logger } from '../runtime/logger';
import type { StateLayout } from '../state/layout';

export interface TrackerSettings {
  statePrefix: string;
  /** an import pending longer than this fails with import-timeout */
  importTimeoutMs: number;
  /** an ImageId ENS does not list is only called missing after this long */
  missingGraceMs: number;
  pageSize: number;
  /** finished imports written at once (record, tags, index entry each) */
  applyConcurrency?: number;
}

export interface TrackerDeps {
  settings: TrackerSettings;
  store: ObjectStore;
  /**
   * The store for the lock, whose calls may run past the run's deadline up to the function's
   * own end: work stops at the run's deadline, and the lock is still released.
   */
  lockStore?: ObjectStore;
  ens: EnsApi;
  log: Logger;
  requestId: string;
  /** epoch ms at which the run stops starting new work */
  runDeadline: number;
  clock?: Clock;
  /** Run the manifests whose wait for missing disks is over (they import or are rejected). */
  expireWaitingManifests?: () => Promise<number>;
  /** importer.yaml's notifications: told of each import that became available or failed */
  notify?: Notify;
  /** the matching rule's `previous:` for a key (keep when not given) */
  previousPolicy?: (bucket: string, key: string) => PreviousPolicy;
}

export interface PendingImport {
  imageId: string;
  recordKey: string;
  pendingKey: string;
  since: number;
}

export interface TrackSummary {
  event: 'track-summary';
  pending: number;
  changed: number;
  counts: Record<'importing' | 'available' | 'failed', number>;
  oldestPendingAgeSec?: number;
  describeCalls: number;
  complete: boolean;
  skipped?: string;
  errors: number;
  manifestsExpired?: number;
  /** images of the images index re-checked in ENS this run */
  rechecked?: number;
}

/** One tracker run's context, handed to each of its steps. */
export interface TrackRun {
  deps: TrackerDeps;
  clock: Clock;
  layout: StateLayout;
  summary: TrackSummary;
  /** the run's retry policy: transient OSS and ENS errors, until the run's deadline */
  retry: <T>(fn: (msLeft: number) => Promise<T>) => Promise<T>;
  /** queue a finished (or invalid) pending-index entry for removal with the page's others */
  removePending: (key: string) => void;
  /** remove what is queued, 1,000 keys a request */
  flushRemovals: () => Promise<void>;
  /** images-index entries this run wrote: the re-check passes them (the run's listing just said them) */
  readonly indexedThisRun: Set<string>;
  /** which keys have earlier versions, from one listing of the key history a run */
  keyHistory: KeyHistoryScan;
}
