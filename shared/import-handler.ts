import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEnsApi, type Credentials } from './adapters/ens';
import { createObjectStore } from './adapters/oss';
import { loadConfig, type ImporterConfig } from './config';
import { parseEventPayload } from './event';
import { createLogger, type LogSink } from './logger';
import type { ObjectResult } from './outcome';
import { processObjectEvent } from './pipeline';

/** The subset of FC's context the importer reads. */
export interface InvocationContext {
  requestId?: string;
  credentials?: Partial<Credentials>;
  function?: { name?: string; timeout?: number };
  region?: string;
  logger?: { info(...a: unknown[]): void };
}

export class TransientFailure extends Error {
  constructor(readonly results: ObjectResult[]) {
    const failed = results.filter((r) => r.outcome === 'failed');
    super(
      `${failed.length} of ${results.length} object(s) failed transiently (${failed.map((r) => r.errorCode).join(', ')}); FC will retry the event`,
    );
    this.name = 'TransientFailure';
  }
}

let cachedConfig: ImporterConfig | undefined;
let cachedFor = '';

/** Read once per instance; re-read only when the environment changes (local stack tests). */
function configFor(env: NodeJS.ProcessEnv, handlerDir: string): ImporterConfig {
  const fingerprint = [
    'ENS_ENDPOINT',
    'OSS_ENDPOINT',
    'IMPORTER_RULES',
    'IMPORTER_STATE_PREFIX',
    'IMPORTER_DRY_RUN',
    'IMPORTER_ENS_TIMEOUT_MS',
    'IMPORTER_MANIFEST_WAIT_MINUTES',
  ]
    .map((k) => env[k] ?? '')
    .join('|');
  if (!cachedConfig || fingerprint !== cachedFor) {
    cachedConfig = loadConfig(env, handlerDir);
    cachedFor = fingerprint;
  }
  return cachedConfig;
}

export function credentialsFrom(context: InvocationContext, env: NodeJS.ProcessEnv): Credentials {
  const c = context.credentials;
  if (c?.accessKeyId && c.accessKeySecret)
    return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken };
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret)
    throw new Error('no credentials: the function needs a role (context.credentials) or ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET');
  return { accessKeyId, accessKeySecret, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined };
}

export const handlerDirOf = (moduleUrl: string): string => dirname(fileURLToPath(moduleUrl));

/** FC entry for the import function: every event handled, a throw only for transient failures. */
export async function handleImportEvent(
  event: unknown,
  context: InvocationContext,
  handlerDir: string,
): Promise<{ results: ObjectResult[] }> {
  const started = Date.now();
  const env = process.env;
  const requestId = context.requestId ?? 'local';
  const sink: LogSink = context.logger ? (line) => context.logger!.info(line) : (line) => console.log(line);
  const credentials = credentialsFrom(context, env);
  const log = createLogger(sink, { function: context.function?.name ?? 'import-image', requestId }, [
    credentials.accessKeySecret,
    credentials.securityToken,
    credentials.accessKeyId,
  ]);
  const config = configFor(env, handlerDir);
  const timeoutMs = (context.function?.timeout ?? 60) * 1000;
  const deadline = started + timeoutMs - Math.min(config.safetyMarginMs, timeoutMs / 4);

  const parsed = parseEventPayload(event);
  if (!parsed.ok) {
    // A retry cannot fix a malformed event: log it and end the invocation normally.
    log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: parsed.reason });
    return { results: [] };
  }
  const ens = createEnsApi(config.ensEndpoint, credentials);
  const results: ObjectResult[] = [];
  for (const entry of parsed.entries) {
    if (!entry.ok) {
      log.error({ outcome: 'skipped', errorCode: 'invalid-event', reason: entry.reason });
      continue;
    }
    const store = createObjectStore(
      { region: entry.event.region, bucket: entry.event.bucket, endpoint: config.ossEndpoint, credentials },
      { deadline },
    );
    results.push(
      await processObjectEvent(entry.event, {
        config,
        store,
        ens,
        log,
        requestId,
        deadline,
      }),
    );
  }
  if (results.some((r) => r.outcome === 'failed')) throw new TransientFailure(results);
  return { results };
}
