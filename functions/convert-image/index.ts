// FC entry point of the converter (handler `index.handler`): raw, VMDK, VHD, VHDX and OVA uploads to qcow2.
import { handleConvertEvent } from '../../shared/handlers/convert-handler';
import { handlerDirOf, type InvocationContext } from '../../shared/runtime/fc-runtime';

const handlerDir = handlerDirOf(import.meta.url);

export async function handler(event: unknown, context: InvocationContext) {
  return handleConvertEvent(event, context, handlerDir);
}
