import { createEnsApi, type Credentials } from '../shared/adapters/ens';
import { createObjectStore } from '../shared/adapters/oss';
import { createObjectTransfer } from '../shared/adapters/oss-transfer';
import { convertObjectEvent, type ConvertResult } from '../shared/conversion/convert-event';
import type { ObjectEvent } from '../shared/core/event';
import type { ObjectResult } from '../shared/core/outcome';
import { processObjectEvent } from '../shared/import/pipeline';
import { readConverterConfig } from '../shared/runtime/config';
import { createLogger } from '../shared/runtime/logger';
import type { GlobalOptions } from './settings';
import { importerConfig } from './importer-settings';
import { withStateAuth } from '../shared/state/state-auth';

/**
 * Run a function's job in this process for one object (import, retry and backfill --via local):
 * the same door, the same jobs as the deployed functions.
 */
export function createInProcessRunner(opts: GlobalOptions & { verbose?: boolean }, credentials: Credentials, bucket: string) {
  const config = importerConfig(opts);
  const target = { region: opts.region, bucket, endpoint: opts.ossEndpoint, internal: opts.internal, credentials };
  const store = withStateAuth(createObjectStore(target), { prefix: opts.statePrefix, keys: config.stateKeys });
  const ens = createEnsApi(opts.ensEndpoint, credentials);
  const sink = opts.verbose ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
  const log = createLogger(sink, { function: 'ens-importer' }, [
    credentials.accessKeySecret,
    credentials.securityToken,
    credentials.accessKeyId,
  ]);
  const timeoutMs = 120_000;
  const invocation = () => ({ requestId: `cli-${process.pid}-${Date.now().toString(36)}`, deadline: Date.now() + timeoutMs });
  /**
   * `newAttempt`: treat the run as a new upload, so a failed or rejected version is tried
   * again (its record and history are kept); a finished version stays a duplicate.
   */
  const eventFor = (key: string, object: { etag?: string; size?: number } | undefined, newAttempt: boolean): ObjectEvent => ({
    eventName: 'ObjectCreated:PutObject',
    region: opts.region,
    bucket,
    key,
    etag: object?.etag,
    size: object?.size,
    requestId: newAttempt ? `cli-retry-${process.pid}-${Date.now().toString(36)}` : undefined,
  });
  return {
    store,
    ens,
    log,
    config,
    run(key: string, object?: { etag?: string; size?: number }, newAttempt = false): Promise<ObjectResult> {
      return processObjectEvent(eventFor(key, object, newAttempt), { config, store, ens, log, ...invocation() });
    },
    /** the converter's job, for a source in another format */
    convert(key: string, object?: { etag?: string; size?: number }, newAttempt = false): Promise<ConvertResult> {
      const converter = {
        ...readConverterConfig({ ...process.env, IMPORTER_RULES: opts.rules ?? process.env.IMPORTER_RULES }, process.cwd()),
        statePrefix: opts.statePrefix,
        ossEndpoint: opts.ossEndpoint,
      };
      const { deadline, requestId } = invocation();
      const transfer = createObjectTransfer(target, { deadline });
      return convertObjectEvent(eventFor(key, object, newAttempt), { config: converter, store, transfer, log, requestId, deadline });
    },
  };
}
