// FC entry point of the import function (handler `index.handler`).
import { handleImportEvent } from '../../shared/handlers/import-handler';
import { readImportConfig } from '../../shared/runtime/config';
import { handlerDirOf, instanceConfig, type InvocationContext } from '../../shared/runtime/fc-runtime';

// read once per instance, at its first invocation
const config = instanceConfig(readImportConfig, handlerDirOf(import.meta.url));

export async function handler(event: unknown, context: InvocationContext) {
  return handleImportEvent(event, context, config());
}
