import type { ObjectStore } from '../adapters/object-store';
import type { Clock } from '../core/clock';
import { outputKeyFor } from '../core/conversion';
import type { ObjectEvent } from '../core/event';
import { endVersion, type EndJob } from '../lifecycle/end-version';
import { jobOfKey } from '../lifecycle/job-of';
import { firstLine, ResultLine, type VersionResult } from '../lifecycle/result-line';
import type { Logger } from '../runtime/logger';
import { claimConversion } from '../state/conversion-claim';
import { conversionHistory, encodeConversion, type ConversionRecord } from '../state/conversion-record';
import type { StateLayout } from '../state/layout';
import { parseRecord } from '../state/records';

/**
 * FC gave up on a conversion (the converter's on-failure destination is ens-import-failed):
 * end it `failed` through the version door's give-up path and the conversion's own claim, so
 * a late delivery and this never both decide. An upload the dead attempts left open stays
 * named in the record (this role may not abort it): the next attempt on the version aborts
 * it, the bucket's lifecycle rule otherwise.
 */

/** Whether a failed event was the converter's: a suffix it owns, or a `.img` the import handed to it. */
export async function isConversionEvent(event: ObjectEvent, etag: string, store: ObjectStore, layout: StateLayout): Promise<boolean> {
  if (jobOfKey(event.key, undefined) === 'conversion') return true;
  if (!event.key.toLowerCase().endsWith('.img')) return false;
  const record = parseRecord(await store.getText(layout.claimKey(event.bucket, event.key, etag)));
  return jobOfKey(event.key, record?.state) === 'conversion';
}

export interface GiveUpDeps {
  store: ObjectStore;
  log: Logger;
  layout: StateLayout;
  clock: Clock;
  requestId: string;
  deadline: number;
  outputTemplate: string;
}

export interface ConversionGiveUp extends VersionResult {
  outcome: 'failed' | 'duplicate' | 'skipped';
}

export function endFailedConversion(event: ObjectEvent, lastError: string, deps: GiveUpDeps): Promise<ConversionGiveUp> {
  const result: ConversionGiveUp = firstLine(event, deps.requestId);
  const line = new ResultLine(result, deps.clock, deps.log, { event: 'conversion-given-up', lastError });
  return endVersion(event, lastError, conversionEnd(event, deps), deps, line);
}

function conversionEnd(event: ObjectEvent, deps: GiveUpDeps): EndJob<ConversionGiveUp, ConversionRecord> {
  return {
    name: 'conversion',
    kind: 'conversion',
    claimOnce: (version) => {
      const now = deps.clock.now();
      const request = {
        version,
        outputKey: outputKeyFor(event.key, deps.outputTemplate),
        uploadRequestId: event.requestId,
        requestId: deps.requestId,
        deadline: deps.deadline,
        now,
      };
      return claimConversion(deps.store, deps.layout, request, deps.deadline - now + 60_000);
    },
    async end(claim, { code, reason }) {
      const record = claim.record;
      const at = new Date(deps.clock.now()).toISOString();
      const failed: ConversionRecord = {
        ...record,
        state: 'failed',
        errorCode: code,
        reason,
        history: conversionHistory(record, 'failed', at, code),
      };
      await deps.store.putText(claim.key, encodeConversion(failed));
      return { finished: { outcome: 'failed', errorCode: code, reason, retryable: false }, tags: { status: 'failed', error: code } };
    },
  };
}
