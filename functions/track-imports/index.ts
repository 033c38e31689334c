// FC entry point of the tracker (handler `index.handler`), run by the timer trigger.
import { readImportConfig } from '../../shared/runtime/config';
import { handlerDirOf, instanceConfig, type InvocationContext } from '../../shared/runtime/fc-runtime';
import { handleTrackEvent } from '../../shared/handlers/track-handler';

// read once per instance, at its first invocation
const config = instanceConfig(readImportConfig, handlerDirOf(import.meta.url));

export async function handler(event: unknown, context: InvocationContext) {
  return handleTrackEvent(event, context, config());
}
