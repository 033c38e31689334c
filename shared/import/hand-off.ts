import { objectCreatedEvent, type ObjectEvent } from '../core/event';
import type { ObjectResult } from '../core/outcome';
import { isPermissionCode } from '../core/permission';
import type { ImportSession } from './import-session';
import type { PipelineDeps } from './deps';

/**
 * A `.img` that is not qcow2 goes to the converter (one owner per suffix: the `.img` trigger
 * is the import function's). The invocation comes first and the record after: a crash between
 * them is retried and invokes again, which the converter's own claim makes harmless.
 */
export async function handToConverter(
  event: ObjectEvent,
  key: string,
  etag: string,
  size: number,
  format: string,
  session: ImportSession,
  deps: PipelineDeps,
): Promise<Partial<ObjectResult>> {
  const converter = deps.config.converterFunction!;
  try {
    await deps.handOff!({ ...event, key, etag, size });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!isPermissionCode(code)) throw err;
    // a role that may not invoke the converter: for an operator to grant, no retry helps
    const reason = `${(err as Error).message} (the function's role lacks fc:InvokeFunction on ${converter}; grant it, then run ens-importer retry)`;
    await session.fail([{ key }], code!, reason);
    return { outcome: 'failed', errorCode: code, reason, missingAction: 'fc:InvokeFunction', retryable: false };
  }
  const reason = `a ${format} disk named .img: handed to ${converter} (asynchronous invocation), which writes its qcow2 for import`;
  await session.handOff(reason, converter);
  return { errorCode: 'handed-to-converter', reason };
}

/** The payload the converter receives: the upload's event as OSS delivers it, the same upload id. */
export const handOffPayload = (e: ObjectEvent, accountId: string): string =>
  JSON.stringify(
    objectCreatedEvent({
      region: e.region,
      bucket: e.bucket,
      key: e.key,
      size: e.size ?? 0,
      etag: e.etag ?? '',
      accountId,
      eventName: e.eventName,
      requestId: e.requestId,
    }),
  );
