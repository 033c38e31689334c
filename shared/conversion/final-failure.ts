import type { ObjectStore } from '../adapters/object-store';
import { realClock } from '../core/clock';
import { outputKeyFor } from '../core/conversion';
import { CONVERTIBLE_SUFFIXES } from '../core/disk-format';
import type { ObjectEvent } from '../core/event';
import { failureCode } from '../core/failure-record';
import { TAG_ERROR } from '../core/tags';
import { writeImporterTags } from '../lifecycle/object-tags';
import type { Logger } from '../runtime/logger';
import { claimConversion } from '../state/conversion-claim';
import { conversionHistory } from '../state/conversion-record';
import type { StateLayout } from '../state/layout';
import { parseRecord } from '../state/records';

/**
 * FC gave up on a conversion (the converter's on-failure destination is ens-import-failed):
 * end it `failed` through the conversion's own claim, so a late delivery and this never both
 * decide. An upload the dead attempts left open stays named in the record (this role may not
 * abort it): the next attempt on the version aborts it, the bucket's lifecycle rule otherwise.
 */

/** Whether a failed event was the converter's: a suffix it owns, or a `.img` the import handed to it. */
export async function isConversionEvent(event: ObjectEvent, etag: string, store: ObjectStore, layout: StateLayout): Promise<boolean> {
  const lower = event.key.toLowerCase();
  if (Object.keys(CONVERTIBLE_SUFFIXES).some((s) => lower.endsWith(s))) return true;
  if (!lower.endsWith('.img')) return false;
  return parseRecord(await store.getText(layout.claimKey(event.bucket, event.key, etag)))?.state === 'converting';
}

export interface GiveUpDeps {
  store: ObjectStore;
  log: Logger;
  layout: StateLayout;
  requestId: string;
  deadline: number;
  outputTemplate: string;
}

export async function endFailedConversion(event: ObjectEvent, etag: string, lastError: string, deps: GiveUpDeps) {
  const now = realClock.now();
  const claim = await claimConversion(
    deps.store,
    deps.layout,
    {
      version: { bucket: event.bucket, key: event.key, etag },
      outputKey: outputKeyFor(event.key, deps.outputTemplate),
      uploadRequestId: event.requestId,
      requestId: deps.requestId,
      deadline: deps.deadline,
      now,
    },
    deps.deadline - now + 60_000,
  );
  if (claim.kind === 'held')
    return { outcome: 'skipped' as const, errorCode: 'claim-busy', reason: 'a live conversion holds this version; it decides' };
  if (claim.kind === 'done') return { outcome: 'duplicate' as const, reason: `the conversion is already ${claim.record.state}` };
  const tags = (await deps.store.getTags(event.key)) ?? {};
  const code = failureCode(tags[TAG_ERROR], lastError);
  const reason = `FC gave up on the conversion after its retries: ${lastError}`.slice(0, 4096);
  const at = new Date(now).toISOString();
  const record = claim.record;
  await deps.store.putText(
    claim.key,
    JSON.stringify({ ...record, state: 'failed', errorCode: code, reason, history: conversionHistory(record, 'failed', at, code) }),
  );
  await writeImporterTags(deps.store, deps.log, { key: event.key }, 'failed', { error: code });
  return { outcome: 'failed' as const, errorCode: code, reason, retryable: false };
}
