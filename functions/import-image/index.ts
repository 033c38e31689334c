// FC entry point of the import function (handler `index.handler`).
import { handleImportEvent, handlerDirOf, type InvocationContext } from '../../shared/import-handler';

const handlerDir = handlerDirOf(import.meta.url);

export const handler = (event: unknown, context: InvocationContext) => handleImportEvent(event, context, handlerDir);
