// FC entry point of the tracker (handler `index.handler`), run by the timer trigger.
import { handlerDirOf, type InvocationContext } from '../../shared/import-handler';
import { handleTrackEvent } from '../../shared/track-handler';

const handlerDir = handlerDirOf(import.meta.url);

export const handler = (event: unknown, context: InvocationContext) => handleTrackEvent(event, context, handlerDir);
