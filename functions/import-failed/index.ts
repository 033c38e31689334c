// FC entry point of the on-failure function (handler `index.handler`): FC sends it each
// import event whose retries are spent (s.yaml asyncInvokeConfig.destinationConfig.onFailure).
import { handleFailedImport } from '../../shared/handlers/failed-handler';
import { readImportConfig } from '../../shared/runtime/config';
import { handlerDirOf, instanceConfig, type InvocationContext } from '../../shared/runtime/fc-runtime';

// read once per instance, at its first invocation
const config = instanceConfig(readImportConfig, handlerDirOf(import.meta.url));

export async function handler(event: unknown, context: InvocationContext) {
  return handleFailedImport(event, context, config());
}
