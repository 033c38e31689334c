import { realClock, type Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import type { ObjectResult } from '../core/outcome';
import { matchRule, type CompiledRule } from '../core/rules';
import { firstLine, ResultLine } from '../lifecycle/result-line';
import { stateLayout, type StateLayout } from '../state/layout';
import { importVersionsOf } from '../state/key-versions';
import { encodeRecord, withHistory } from '../state/records';
import type { PipelineDeps } from './deps';

/**
 * The end of a key's life: its object was deleted (the trigger's ObjectRemoved events). By the
 * matching rule's `onDelete`: `keep` (the default) leaves its images and records as they are;
 * `delete-image` queues the image of every version of the key for the tracker to delete, the
 * same queue, back-off and checks as a superseded image (never an image whose version the
 * object holds again: a delete racing a re-upload keeps it). The records stay, so `why` tells
 * the key's history.
 */
export async function endKeyOnDelete(event: ObjectEvent, deps: PipelineDeps): Promise<ObjectResult> {
  const clock = deps.clock ?? realClock;
  const line = new ResultLine<ObjectResult>({ ...firstLine(event, deps.requestId), attempts: 0 }, clock, deps.log, {
    event: 'object-removed',
  });
  const layout = stateLayout(deps.config.statePrefix);
  if (layout.isStateKey(event.key))
    return line.finish({ errorCode: 'state-object', reason: `keys under ${layout.prefix} are the importer's own state` });
  const rule = matchRule(deps.config.rules, event.key);
  if (!rule || rule.onDelete === 'keep')
    return line.finish({
      errorCode: 'object-deleted',
      reason: `onDelete: keep (rule ${rule?.name ?? 'none'}): its images and records stay`,
    });
  try {
    return line.finish(await queueImages(event, rule, layout, deps, clock));
  } catch (err) {
    // OSS trouble: FC's retry ends it (every step is idempotent)
    const code = (err as { code?: string }).code ?? 'InternalError';
    return line.finish({ outcome: 'failed', errorCode: code, reason: (err as Error).message, retryable: true });
  }
}

/** The images of the key's versions queued for deletion (the queue entry first, then the record). */
async function queueImages(
  event: ObjectEvent,
  rule: CompiledRule,
  layout: StateLayout,
  deps: PipelineDeps,
  clock: Clock,
): Promise<Partial<ObjectResult> & { details?: object }> {
  // uploaded again since the delete: the newer upload is the key's life now
  if (await deps.store.head(event.key))
    return { errorCode: 'superseded', reason: 'the key was uploaded again after the delete; its images stay' };
  const queued: string[] = [];
  for (const { recordKey, record } of await importVersionsOf(deps.store, layout, event.bucket, event.key)) {
    const gone = record.imageDeletion && record.imageDeletion.state !== 'refused';
    if (!record.imageId || gone || !['importing', 'available', 'superseded'].includes(record.state)) continue;
    const at = new Date(clock.now()).toISOString();
    // the queue entry first: a record that says pending always has one
    await deps.store.putText(layout.deletionKey(recordKey, record.imageId), '');
    const reason = `the object was deleted (onDelete: delete-image, rule ${rule.name})`;
    const updated = {
      ...record,
      imageDeletion: { state: 'pending' as const, attempts: 0, at, reason },
      history: withHistory(record, record.state, at, reason),
    };
    await deps.store.putText(recordKey, encodeRecord(updated));
    queued.push(record.imageId);
  }
  return {
    errorCode: 'object-deleted',
    reason: `onDelete: delete-image: ${queued.length} image(s) queued for deletion by the tracker`,
    details: { imagesQueued: queued },
  };
}
