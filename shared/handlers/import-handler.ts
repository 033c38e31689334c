import { createEnsApi } from '../adapters/ens';
import { parseEventPayload, type ObjectEvent } from '../core/event';
import type { Credentials } from '../adapters/ens';
import { handOffPayload } from '../import/hand-off';
import type { ObjectResult } from '../core/outcome';
import { endKeyOnDelete } from '../import/object-removed';
import { processObjectEvent } from '../import/pipeline';
import { DEFAULTS, type ImporterConfig } from '../runtime/config';
import { createNotifier } from '../runtime/notifier';
import { holdIn } from './notice-hold';
import { eventStore } from './state-store';
import { Pacer, pacingIntervalMs } from '../core/pacer';
import { realClock } from '../core/clock';
import { invocationScope, type InvocationContext } from '../runtime/fc-runtime';

export class TransientFailureError extends Error {
  override name = 'TransientFailureError';
  constructor(readonly results: ObjectResult[]) {
    const failed = results.filter((r) => r.outcome === 'failed' && r.retryable);
    super(
      `${failed.length} of ${results.length} object(s) failed transiently (${failed.map((r) => r.errorCode).join(', ')}); FC will retry the event`,
    );
  }
}

/** records of one event handled at once */
const RECORD_CONCURRENCY = 4;
let pacer: Pacer | undefined;

/** One pacer per instance (module state lives as long as the FC instance). */
function pacerFor(config: ImporterConfig): Pacer | undefined {
  const ms = pacingIntervalMs(config.ensImportQps, config.instances);
  if (!ms) return undefined;
  if (pacer?.intervalMs !== ms) pacer = new Pacer(ms, realClock);
  return pacer;
}

/** FC entry for the import function: every event handled, a throw only for transient failures. */
export async function handleImportEvent(
  event: unknown,
  context: InvocationContext,
  config: ImporterConfig,
): Promise<{ results: ObjectResult[] }> {
  const scope = invocationScope(context, 'import-image', config.safetyMarginMs ?? DEFAULTS.safetyMarginMs);
  const parsed = parseEventPayload(event);
  if (!parsed.ok) {
    // A retry cannot fix a malformed event: log it and end the invocation normally.
    scope.log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: parsed.reason });
    return { results: [] };
  }
  const ens = createEnsApi(config.ensEndpoint, scope.credentials);
  const pacer = pacerFor(config);
  const pace = pacer ? (deadline: number) => pacer.slot(deadline) : undefined;
  const handle = async (entry: (typeof parsed.entries)[number]): Promise<ObjectResult | undefined> => {
    if (!entry.ok) {
      scope.log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: entry.reason });
      return undefined;
    }
    const { region, bucket } = entry.event;
    const store = eventStore(config, scope, region, bucket);
    const run = entry.event.eventName.startsWith('ObjectRemoved:') ? endKeyOnDelete : processObjectEvent;
    return run(entry.event, {
      config,
      store,
      ens,
      log: scope.log,
      requestId: scope.requestId,
      deadline: scope.deadline,
      pace,
      handOff: config.converterFunction ? (e) => invokeConverter(e, config, context, scope.credentials) : undefined,
    });
  };
  // an event of many records: a few at once (each logged when done), in the event's order
  const slots: (ObjectResult | undefined)[] = new Array(parsed.entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < parsed.entries.length) {
      const i = next++;
      slots[i] = await handle(parsed.entries[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RECORD_CONCURRENCY, parsed.entries.length) }, worker));
  const results = slots.filter((r): r is ObjectResult => r !== undefined);
  const notify = createNotifier(config.notify, scope.log, scope.deadline, holdIn(config, context, scope.credentials));
  for (const r of results) if (isFinalFailure(r)) await notify({ ...noticeOf(r), by: 'import' });
  if (results.some((r) => r.outcome === 'failed' && r.retryable)) throw new TransientFailureError(results);
  return { results };
}

/** The FC SDKs load only when a `.img` needs the converter: the import's cold start does not carry them. */
async function invokeConverter(
  e: ObjectEvent,
  config: ImporterConfig,
  context: InvocationContext,
  credentials: Credentials,
): Promise<void> {
  const { createFcInvoker } = await import('../adapters/fc');
  const accountId = context.accountId ?? process.env.FC_ACCOUNT_ID ?? '';
  const fc = createFcInvoker({ api: '2023-03-30', accountId, region: e.region, endpoint: config.fcEndpoint, credentials });
  await fc.invokeAsync(config.converterFunction!, handOffPayload(e, accountId));
}

/** An outcome no retry will change: rejected, or failed for an operator to fix. */
export const isFinalFailure = (r: ObjectResult): boolean => r.outcome === 'rejected' || (r.outcome === 'failed' && !r.retryable);

export const noticeOf = (r: ObjectResult) => ({
  outcome: r.outcome as 'failed' | 'rejected',
  bucket: r.bucket,
  key: r.key,
  imageId: r.imageId,
  errorCode: r.errorCode,
  reason: r.reason,
  ...(r.olderVersion && r.etag ? { olderVersion: { etag: r.etag } } : {}),
});
