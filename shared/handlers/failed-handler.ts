import { createEnsApi } from '../adapters/ens';
import { realClock } from '../core/clock';
import { parseEventPayload } from '../core/event';
import { parseFailedInvocation } from '../core/failure-record';
import type { ObjectResult } from '../core/outcome';
import { endFailedVersion } from '../import/final-failure';
import { endFailedConversion, isConversionEvent } from '../conversion/final-failure';
import { DEFAULT_OUTPUT_TEMPLATE } from '../core/conversion';
import type { ObjectEvent } from '../core/event';
import type { PipelineDeps } from '../import/deps';
import { stateLayout } from '../state/layout';
import { DEFAULTS, type ImporterConfig } from '../runtime/config';
import { invocationScope, type InvocationContext } from '../runtime/fc-runtime';
import { isFinalFailure, noticeOf, TransientFailureError } from './import-handler';
import { createNotifier } from '../runtime/notifier';
import { holdIn } from './notice-hold';
import { eventStore } from './state-store';

/** The converter's events end through the conversion's claim, the import's through its own: one door, two jobs. */
async function endFailed(event: ObjectEvent, lastError: string, deps: PipelineDeps): Promise<ObjectResult> {
  const layout = stateLayout(deps.config.statePrefix);
  const etag = event.etag ?? (await deps.store.head(event.key))?.etag;
  if (!etag || !(await isConversionEvent(event, etag, deps.store, layout))) return endFailedVersion(event, lastError, deps);
  const outputTemplate = deps.config.convertOutput ?? DEFAULT_OUTPUT_TEMPLATE;
  const r = await endFailedConversion({ ...event, etag }, lastError, { ...deps, clock: deps.clock ?? realClock, layout, outputTemplate });
  return { ...r, attempts: 0 };
}

/**
 * FC entry for `ens-import-failed`, the import function's on-failure destination: each
 * object of the event FC gave up on is tagged `failed` with the last error, and its record
 * says so. A throw (OSS unreachable) lets FC retry this one too.
 */
export async function handleFailedImport(
  event: unknown,
  context: InvocationContext,
  config: ImporterConfig,
): Promise<{ results: ObjectResult[] }> {
  const scope = invocationScope(context, 'import-failed', config.safetyMarginMs ?? DEFAULTS.safetyMarginMs);
  const failed = parseFailedInvocation(event);
  const parsed = parseEventPayload(failed.payload);
  if (!parsed.ok) {
    scope.log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: `the failed invocation's event: ${parsed.reason}` });
    return { results: [] };
  }
  const ens = createEnsApi(config.ensEndpoint, scope.credentials);
  const results: ObjectResult[] = [];
  for (const entry of parsed.entries) {
    if (!entry.ok) continue;
    const { region, bucket } = entry.event;
    const store = eventStore(config, scope, region, bucket);
    const deps = { config, store, ens, log: scope.log, requestId: scope.requestId, deadline: scope.deadline };
    try {
      results.push(await endFailed(entry.event, failed.lastError, deps));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      scope.log.error({
        event: 'import-given-up',
        bucket,
        key: entry.event.key,
        outcome: 'failed',
        errorCode: 'InternalError',
        reason: message,
      });
      results.push({
        outcome: 'failed',
        bucket,
        key: entry.event.key,
        attempts: 0,
        durationMs: 0,
        errorCode: 'InternalError',
        reason: message,
        retryable: true,
      });
    }
  }
  const notify = createNotifier(config.notify, scope.log, scope.deadline, holdIn(config, context, scope.credentials));
  for (const r of results) if (isFinalFailure(r)) await notify({ ...noticeOf(r), by: 'on-failure' });
  if (results.some((r) => r.outcome === 'failed' && r.retryable)) throw new TransientFailureError(results);
  return { results };
}
