import type { Clock } from '../core/clock';
import type { ObjectEvent } from '../core/event';
import { claimVersion, claimWaitingOut, type ClaimOutcome, type VersionRef } from '../state/claim';
import type { StateLayout } from '../state/layout';
import type { PipelineDeps } from './deps';

/**
 * A live claim is a concurrent delivery, or a holder that failed and could not release it.
 * Its deadline is never later than ours would be, so waiting for it to end fits.
 */
export async function claimOrWait(
  deps: PipelineDeps,
  layout: StateLayout,
  clock: Clock,
  event: ObjectEvent,
  version: VersionRef,
): Promise<ClaimOutcome> {
  return claimWaitingOut(() => claimForEvent(deps, layout, clock, event, version), clock, deps.deadline);
}

/** One claim attempt on the version an event reports, with the invocation's identity and deadline. */
export function claimForEvent(
  deps: PipelineDeps,
  layout: StateLayout,
  clock: Clock,
  event: ObjectEvent,
  version: VersionRef,
): Promise<ClaimOutcome> {
  return claimVersion(
    deps.store,
    layout,
    {
      version,
      uploadRequestId: event.requestId,
      eventName: event.eventName,
      ...(event.eventTime ? { uploadedAt: Date.parse(event.eventTime) } : {}),
      requestId: deps.requestId,
      deadline: deps.deadline,
      now: clock.now(),
    },
    deps.deadline - clock.now() + 60_000,
  );
}
