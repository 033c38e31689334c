// A burst of uploads through the trigger and FC's async queue, with ENS allowing `qps`
// ImportImage calls a second: the time against the rate floor, throttled calls per import,
// and invocations that ran past their deadline. FC instances are separate (isolateInstances),
// capped by s.yaml's reservedConcurrency, each pacing its own ImportImage calls.
import { startLocalStack } from '../local/index';
import { ossClient } from '../test/helpers/clients';

export async function burst(uploads: number, qps: number, body: Buffer) {
  const stack = await startLocalStack({ functionCode: 'bundle', isolateInstances: true, asyncConcurrency: 1000, retryBaseMs: 1000 });
  try {
    stack.ens.rateLimits.ImportImage = qps;
    const client = ossClient(stack);
    const t0 = performance.now();
    for (let i = 0; i < uploads; i += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, uploads - i) }, (_, k) => client.put(`images/ubuntu/22.04/burst-${i + k}.qcow2`, body)),
      );
    await stack.settle();
    const seconds = (performance.now() - t0) / 1000;
    const results = stack.importResults().filter((r) => r.key.includes('/burst-'));
    const imported = results.filter((r) => r.outcome === 'imported').length;
    const calls = stack.ens.callsOf('ImportImage');
    const throttled = calls.filter((c) => c.code === 'Throttling.User').length;
    const fn = stack.fc.functions.get('ens-import-image')!;
    return {
      uploads,
      ensQps: qps,
      reservedConcurrency: fn.reservedConcurrency,
      instancesStarted: stack.fc.instancesStarted.get('ens-import-image') ?? 0,
      seconds: Math.round(seconds * 10) / 10,
      rateFloorSeconds: uploads / qps,
      ratio: Math.round((seconds / (uploads / qps)) * 100) / 100,
      imported,
      throttledCalls: throttled,
      throttledPerImport: Math.round((throttled / Math.max(1, imported)) * 100) / 100,
      pastDeadline: stack.fc.invocations.filter((i) => i.function === 'ens-import-image' && /timed out/.test(i.error ?? '')).length,
      failedInvocations: stack.fc.invocations.filter((i) => i.function === 'ens-import-image' && !i.ok).length,
    };
  } finally {
    await stack.stop();
  }
}
