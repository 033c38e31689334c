import type { ObjectHead } from '../adapters/object-store';
import { realClock } from '../core/clock';
import { cannotFinish, outputMeta } from '../core/conversion';
import { convertibleFormat, detectSource, openDiskSource } from '../formats/registry';
import { blockCachedSource } from '../formats/ranged-source';
import { ConvertRefusal } from '../formats/refusal';
import type { ConversionSession } from './conversion-session';
import { ConvertTimeout, convertBody, outputState, type OpenUpload } from './convert-body';
import { convertOva } from './convert-ova';
import { convertFanOut, removeFanOutJob } from './fanout';
import { fansOut } from './fanout-task';
import type { ConvertDeps, Converted } from './deps';

export type { Converted } from './deps';

/**
 * Refused at once, before an upload begins, rather than aborted when the timeout comes (a
 * fanned-out source is read by its workers at once: each reads its share). The margin is not
 * counted here: it is the time an abort needs, checked as the conversion runs.
 */
function refuseWhatCannotFinish(bytesToRead: number, deps: ConvertDeps): void {
  const refusal = cannotFinish(bytesToRead, deps.config.rateMBps, deps.deadline - (deps.clock ?? realClock).now());
  if (refusal)
    throw new ConvertTimeout(
      `${refusal}: raise vars.converttimeout in s.yaml, or convert it locally (ens-importer convert) and upload the .qcow2`,
      'convert-would-time-out',
    );
}

/**
 * The claimed source version to its qcow2: an output this version already made is adopted,
 * anyone else's is never overwritten; otherwise the disk is read with ranged GETs and written.
 */
export async function convertSource(head: ObjectHead, session: ConversionSession, deps: ConvertDeps, open: OpenUpload): Promise<Converted> {
  const { outputKey, key, etag } = session.record;
  const source = blockCachedSource(
    head.size,
    (offset, length) => deps.transfer.readRange(key, etag, offset, length),
    deps.sizes?.block,
    deps.config.streams,
  );
  const { fanOut } = deps.config;
  const mayFanOut = fansOut('raw', head.size, fanOut.minBytes, !!deps.invokeWorker);
  const existing = await outputState(deps, outputKey, key, etag);
  if (existing.kind === 'this-version') {
    // completed by an attempt that ended before it could record it (or remove its workers' folder)
    await session.converted({ outputEtag: existing.etag, format: session.record.format ?? 'unknown', note: 'output found complete' });
    if (mayFanOut) await removeFanOutJob(deps, session.record);
    return { format: session.record.format ?? 'unknown', outputKey, outputEtag: existing.etag, sourceRequests: 0 };
  }
  if (existing.kind === 'foreign')
    throw new ConvertRefusal(
      'convert-output-exists',
      `${outputKey} already exists and was not made from this upload; the converter never overwrites it (rename or remove it, then upload again)`,
    );
  refuseWhatCannotFinish(mayFanOut ? head.size / fanOut.workers : head.size, deps);
  const detected = await detectSource(key, source, head.bytes);
  if (detected === 'qcow2')
    throw new ConvertRefusal('convert-already-qcow2', `the object is already qcow2: upload it as ${outputKey} instead`);
  if (detected === 'ova') {
    const done = await convertOva(head, source, session, deps, open);
    return { ...done, sourceRequests: source.requests };
  }
  const format = convertibleFormat(detected, key);
  const disk = await openDiskSource(format, source, deps.config.maxVirtualBytes);
  const target = { key: outputKey, meta: outputMeta(head.meta, key, etag), replace: existing.kind === 'earlier-version' };
  const fanned = mayFanOut && fansOut(format, head.size, fanOut.minBytes, true);
  if (fanned) open.fanOut = true;
  const body = fanned
    ? await convertFanOut(disk, { size: head.size }, session, deps, open, target)
    : await convertBody(disk, session, deps, open, target);
  await deps.onStep?.('after-output');
  await session.converted({
    outputEtag: body.outputEtag,
    format,
    virtualSize: disk.virtualSize,
    outputBytes: body.outputBytes,
    note: body.adopted ? 'completion answer lost; output found' : undefined,
  });
  if (fanned) await removeFanOutJob(deps, session.record);
  return {
    format,
    outputKey,
    outputEtag: body.outputEtag,
    virtualSize: disk.virtualSize,
    outputBytes: body.outputBytes,
    parts: body.parts,
    sourceRequests: source.requests,
  };
}
