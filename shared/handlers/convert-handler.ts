import { stateStore } from './state-store';
import { createObjectStore } from '../adapters/oss';
import { createObjectTransfer } from '../adapters/oss-transfer';
import { parseEventPayload } from '../core/event';
import { convertObjectEvent, type ConvertResult } from '../conversion/convert-event';
import type { ConverterConfig, ConvertDeps } from '../conversion/deps';
import { convertRange, type RangeResult } from '../conversion/fanout-worker';
import { fanOutPayload, parseFanOutTask, type FanOutTask } from '../conversion/fanout-task';
import { invocationScope, type InvocationContext, type InvocationScope } from '../runtime/fc-runtime';

export class ConvertRetryError extends Error {
  override name = 'ConvertRetryError';
}

/** The I/O of one invocation against one bucket: its store (state signed), its transfer, its deadline. */
function depsFor(scope: InvocationScope, config: ConverterConfig, region: string, bucket: string): Omit<ConvertDeps, 'invokeWorker'> {
  const target = { region, bucket, endpoint: config.ossEndpoint, internal: true, credentials: scope.credentials };
  const policy = { deadline: scope.deadline };
  return {
    config,
    store: stateStore(createObjectStore(target, policy), config, scope.log),
    transfer: createObjectTransfer(target, policy),
    log: scope.log,
    requestId: scope.requestId,
    deadline: scope.deadline,
  };
}

/** Fan-out workers are this function again, invoked asynchronously: the FC SDK loads only when a big source fans out. */
function workerInvoker(context: InvocationContext, config: ConverterConfig, scope: InvocationScope, region: string) {
  const name = context.function?.name;
  if (!name || config.fanOut.minBytes === 0) return undefined;
  return async (task: Omit<FanOutTask, 'region'>) => {
    const { createFcInvoker } = await import('../adapters/fc');
    const accountId = context.accountId ?? process.env.FC_ACCOUNT_ID ?? '';
    const fc = createFcInvoker({ api: '2023-03-30', accountId, region, endpoint: config.fcEndpoint, credentials: scope.credentials });
    await fc.invokeAsync(name, fanOutPayload({ ...task, region }));
  };
}

/**
 * FC entry for the converter. Records are converted one after another: each holds two parts
 * and a few source blocks in memory, and one conversion already keeps the instance busy. A
 * fan-out worker's task (this function invoking itself) converts one guest range.
 */
export async function handleConvertEvent(
  event: unknown,
  context: InvocationContext,
  config: ConverterConfig,
): Promise<{ results: ConvertResult[] } | { range: RangeResult }> {
  const scope = invocationScope(context, 'convert-image', config.marginMs);
  const task = parseFanOutTask(jsonOf(event));
  if (task && 'error' in task) {
    scope.log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: task.error });
    return { results: [] };
  }
  if (task) {
    const range = await convertRange(task, depsFor(scope, config, task.region, task.bucket));
    const { outcome, ...fields } = range;
    scope.log[outcome === 'refused' ? 'error' : 'info']({
      event: 'fanout-range',
      bucket: task.bucket,
      key: task.key,
      rangeOutcome: outcome,
      ...fields,
    });
    return { range };
  }
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
    const deps = { ...depsFor(scope, config, region, bucket), invokeWorker: workerInvoker(context, config, scope, region) };
    results.push(await convertObjectEvent(entry.event, deps));
  }
  const retry = results.filter((r) => r.outcome === 'failed' && r.retryable);
  if (retry.length)
    throw new ConvertRetryError(
      `${retry.length} conversion(s) failed transiently (${retry.map((r) => r.errorCode).join(', ')}); FC will retry the event`,
    );
  return { results };
}

/** The payload as JSON (FC hands a Buffer), or undefined when it is not. */
function jsonOf(event: unknown): unknown {
  if (!(Buffer.isBuffer(event) || event instanceof Uint8Array || typeof event === 'string')) return event;
  try {
    return JSON.parse(Buffer.from(event as Uint8Array | string).toString('utf8'));
  } catch {
    return undefined;
  }
}
