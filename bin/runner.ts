import { createEnsApi, type Credentials } from '../shared/adapters/ens';
import { createObjectStore } from '../shared/adapters/oss';
import { createLogger } from '../shared/runtime/logger';
import type { ObjectResult } from '../shared/core/outcome';
import { processObjectEvent } from '../shared/import/pipeline';
import { importerConfig, type GlobalOptions } from './settings';

/** Run the function's pipeline in this process for one object (import and backfill --via local). */
export function createInProcessRunner(opts: GlobalOptions & { verbose?: boolean }, credentials: Credentials, bucket: string) {
  const config = importerConfig(opts);
  const store = createObjectStore({ region: opts.region, bucket, endpoint: opts.ossEndpoint, internal: opts.internal, credentials });
  const ens = createEnsApi(opts.ensEndpoint, credentials);
  const sink = opts.verbose ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
  const log = createLogger(sink, { function: 'ens-importer' }, [
    credentials.accessKeySecret,
    credentials.securityToken,
    credentials.accessKeyId,
  ]);
  const timeoutMs = 120_000;
  return {
    store,
    config,
    /**
     * `newAttempt`: treat the run as a new upload, so a failed or rejected version is tried
     * again (its record and history are kept); an imported version stays a duplicate.
     */
    run(key: string, object?: { etag?: string; size?: number }, newAttempt = false): Promise<ObjectResult> {
      const uploadRequestId = newAttempt ? `cli-retry-${process.pid}-${Date.now().toString(36)}` : undefined;
      return processObjectEvent(
        {
          eventName: 'ObjectCreated:PutObject',
          region: opts.region,
          bucket,
          key,
          etag: object?.etag,
          size: object?.size,
          requestId: uploadRequestId,
        },
        { config, store, ens, log, requestId: `cli-${process.pid}-${Date.now().toString(36)}`, deadline: Date.now() + timeoutMs },
      );
    },
  };
}

export const EXIT_FOR_OUTCOME: Record<ObjectResult['outcome'], number> = { imported: 0, duplicate: 0, skipped: 4, rejected: 3, failed: 5 };
