// FC entry point of the import function (handler `index.handler`).
import { handleImportEvent } from '../../shared/handlers/import-handler';
import { handlerDirOf, type InvocationContext } from '../../shared/runtime/fc-runtime';

const handlerDir = handlerDirOf(import.meta.url);

export async function handler(event: unknown, context: InvocationContext) {
  return handleImportEvent(event, context, handlerDir);
}
