import { stateStore } from './state-store';
import { createObjectStore } from '../adapters/oss';
import { createObjectTransfer } from '../adapters/oss-transfer';
import { parseEventPayload } from '../core/event';
import { convertObjectEvent, type ConvertResult } from '../conversion/convert-event';
import type { ConverterConfig } from '../conversion/deps';
import { invocationScope, type InvocationContext } from '../runtime/fc-runtime';

export class ConvertRetryError extends Error {
  override name = 'ConvertRetryError';
}

/**
 * FC entry for the converter. Records are converted one after another: each holds two parts
 * and a few source blocks in memory, and one conversion already keeps the instance busy.
 */
export async function handleConvertEvent(
  event: unknown,
  context: InvocationContext,
  config: ConverterConfig,
): Promise<{ results: ConvertResult[] }> {
  const scope = invocationScope(context, 'convert-image', config.marginMs);
  const parsed = parseEventPayload(event);
  if (!parsed.ok) {
    scope.log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: parsed.reason });
    return { results: [] };
  }
  const results: ConvertResult[] = [];
  for (const entry of parsed.entries) {
    if (!entry.ok) {
      scope.log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: entry.reason });
      continue;
    }
    const { region, bucket } = entry.event;
    const target = { region, bucket, endpoint: config.ossEndpoint, internal: true, credentials: scope.credentials };
    const policy = { deadline: scope.deadline };
    results.push(
      await convertObjectEvent(entry.event, {
        config,
        store: stateStore(createObjectStore(target, policy), config, scope.log),
        transfer: createObjectTransfer(target, policy),
        log: scope.log,
        requestId: scope.requestId,
        deadline: scope.deadline,
      }),
    );
  }
  const retry = results.filter((r) => r.outcome === 'failed' && r.retryable);
  if (retry.length)
    throw new ConvertRetryError(
      `${retry.length} conversion(s) failed transiently (${retry.map((r) => r.errorCode).join(', ')}); FC will retry the event`,
    );
  return { results };
}
