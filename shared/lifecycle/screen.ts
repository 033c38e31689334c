import { isImportable, type ObjectEvent } from '../core/event';
import type { StateLayout } from '../state/layout';

/** Why an event is no upload to work on; every path (import, conversion, give-up) says it the same way. */
export interface Screened {
  errorCode: 'event-kind' | 'state-object';
  reason: string;
}

/** The event's kind, and never the importer's own state. */
export function screenEvent(event: ObjectEvent, layout: StateLayout): Screened | undefined {
  if (!isImportable(event.eventName)) return { errorCode: 'event-kind', reason: `${event.eventName} does not complete an upload` };
  if (layout.isStateKey(event.key))
    return { errorCode: 'state-object', reason: `keys under ${layout.prefix} are the importer's own state` };
  return undefined;
}
