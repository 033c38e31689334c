import { createEnsApi, type Credentials } from '../shared/adapters/ens';
import { createObjectStore } from '../shared/adapters/oss';
import { claimKey } from '../shared/claims';
import { createLogger } from '../shared/logger';
import type { ObjectResult } from '../shared/outcome';
import { processObjectEvent } from '../shared/pipeline';
import { importerConfig, type GlobalOptions } from './settings';

/** Run the function's pipeline in this process for one object (import and backfill --via local). */
export function createLocalRunner(opts: GlobalOptions & { verbose?: boolean }, credentials: Credentials, bucket: string) {
  const config = importerConfig(opts);
  const store = createObjectStore({ region: opts.region, bucket, endpoint: opts.ossEndpoint, credentials });
  const ens = createEnsApi(opts.ensEndpoint, credentials);
  const sink = opts.verbose ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
  const log = createLogger(sink, { function: 'ens-importer' }, [credentials.accessKeySecret, credentials.securityToken, credentials.accessKeyId]);
  const timeoutMs = 120_000;
  return {
    store,
    config,
    /** Forget a finished claim so a failed or rejected import can be tried again. */
    async releaseClaim(key: string, etag: string): Promise<void> {
      await store.delete(claimKey(config.statePrefix, bucket, key, etag));
    },
    run(key: string, object?: { etag?: string; size?: number }): Promise<ObjectResult> {
      return processObjectEvent(
        { eventName: 'ObjectCreated:PutObject', region: opts.region, bucket, key, etag: object?.etag, size: object?.size },
        { config, store, ens, log, requestId: `cli-${process.pid}`, deadline: Date.now() + timeoutMs, claimTtlMs: timeoutMs + 30_000 },
      );
    },
  };
}

export const EXIT_FOR_OUTCOME: Record<ObjectResult['outcome'], number> = { imported: 0, duplicate: 0, skipped: 4, rejected: 3, failed: 5 };
