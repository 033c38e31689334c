import { realClock, type Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import type { ObjectResult } from '../core/outcome';
import { endVersion, type EndJob } from '../lifecycle/end-version';
import { writeImporterTags } from '../lifecycle/object-tags';
import { firstLine, ResultLine } from '../lifecycle/result-line';
import { stateLayout, type StateLayout } from '../state/layout';
import { encodeRecord, withHistory, type ImportRecord } from '../state/records';
import { claimForEvent } from './claim-wait';
import type { PipelineDeps } from './deps';
import { ImportSession } from './import-session';

/**
 * FC has spent its retries on this event: end the version's story as `failed`, through the
 * version door's give-up path and the same claim as an import, so a late delivery and this
 * never both decide. Whatever shows that ImportImage may have been sent stays in the record;
 * a version whose ImageId is known was imported after all and goes to the tracker instead.
 */
export function endFailedVersion(event: ObjectEvent, lastError: string, deps: PipelineDeps): Promise<ObjectResult> {
  const clock = deps.clock ?? realClock;
  const layout = stateLayout(deps.config.statePrefix);
  const result: ObjectResult = { ...firstLine(event, deps.requestId), attempts: 0 };
  const line = new ResultLine(result, clock, deps.log, { event: 'import-given-up', lastError });
  return endVersion(event, lastError, importEnd(event, deps, layout, clock), { ...deps, clock, layout }, line);
}

function importEnd(event: ObjectEvent, deps: PipelineDeps, layout: StateLayout, clock: Clock): EndJob<ObjectResult, ImportRecord> {
  return {
    name: 'import',
    kind: 'import',
    claimOnce: (version) => claimForEvent(deps, layout, clock, event, version),
    async end(claim, giveUp) {
      if (claim.record.imageId) {
        const imageId = claim.record.imageId;
        await handToTracker(claim.key, claim.record, deps, layout, clock);
        const reason = 'the image existed; handed to the tracker';
        return { finished: { outcome: 'imported', imageId, reason }, tags: { status: 'importing', imageId } };
      }
      const session = new ImportSession(claim.key, claim.record, { ...deps, layout, clock });
      // the tags follow the record, and only while the object holds this version (the door)
      await session.fail([], giveUp.code, giveUp.reason);
      return {
        finished: { outcome: 'failed', errorCode: giveUp.code, reason: giveUp.reason, retryable: false },
        tags: { status: 'failed', error: giveUp.code },
      };
    },
  };
}

/** Imported before the last attempt died: the pending entry hands it to the tracker. */
async function handToTracker(claimKey: string, record: ImportRecord, deps: PipelineDeps, layout: StateLayout, clock: Clock): Promise<void> {
  const imageId = record.imageId!;
  await deps.store.putText(layout.pendingKey(claimKey, imageId), '');
  // a multi-disk image's disks carry it too, unless they carry another import's
  for (const disk of record.disks ?? [])
    await writeImporterTags(deps.store, deps.log, { key: disk, ifUnowned: true }, 'importing', { imageId });
  const at = new Date(clock.now()).toISOString();
  const next: ImportRecord = {
    ...record,
    state: 'importing',
    importedAt: record.importedAt ?? at,
    history: withHistory(record, 'importing', at, 'finished by the on-failure function'),
  };
  await deps.store.putText(claimKey, encodeRecord(next));
}
