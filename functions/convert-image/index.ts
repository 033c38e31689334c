// FC entry point of the converter (handler `index.handler`): raw, VMDK, VHD, VHDX and OVA uploads to qcow2.
import { handleConvertEvent } from '../../shared/handlers/convert-handler';
import { readConverterConfig } from '../../shared/runtime/config';
import { handlerDirOf, instanceConfig, type InvocationContext } from '../../shared/runtime/fc-runtime';

// read once per instance, at its first invocation
const config = instanceConfig(readConverterConfig, handlerDirOf(import.meta.url));

export async function handler(event: unknown, context: InvocationContext) {
  return handleConvertEvent(event, context, config());
}
