// FC entry point of the tracker (handler `index.handler`), run by the timer trigger.
import { handlerDirOf, type InvocationContext } from '../../shared/runtime/fc-runtime';
import { handleTrackEvent } from '../../shared/handlers/track-handler';

const handlerDir = handlerDirOf(import.meta.url);

export async function handler(event: unknown, context: InvocationContext) {
  return handleTrackEvent(event, context, handlerDir);
}
