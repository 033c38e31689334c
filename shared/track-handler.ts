import { createEnsApi } from './adapters/ens';
import { createObjectStore } from './adapters/oss';
import { credentialsFrom, type InvocationContext } from './import-handler';
import { createLogger } from './logger';
import { trackImports, type TrackSummary } from './tracker';

const number = (v: string | undefined, fallback: number, name: string): number => {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not "${v}"`);
  return n;
};

/** FC entry for the timer-driven tracker. */
export async function handleTrackEvent(_event: unknown, context: InvocationContext): Promise<TrackSummary> {
  const started = Date.now();
  const env = process.env;
  const requestId = context.requestId ?? 'local';
  const credentials = credentialsFrom(context, env);
  const log = createLogger(context.logger ? (l) => context.logger!.info(l) : (l) => console.log(l), { function: context.function?.name ?? 'track-imports', requestId }, [
    credentials.accessKeySecret,
    credentials.securityToken,
    credentials.accessKeyId,
  ]);
  const bucket = env.IMPORTER_BUCKET;
  if (!bucket) throw new Error('IMPORTER_BUCKET is not set: the tracker needs the bucket that holds the import records');
  const region = env.IMPORTER_BUCKET_REGION || context.region || env.FC_REGION || 'cn-beijing';
  const timeoutMs = (context.function?.timeout ?? 60) * 1000;
  return trackImports({
    settings: {
      statePrefix: env.IMPORTER_STATE_PREFIX || '.ens-importer/',
      importTimeoutMs: number(env.IMPORTER_IMPORT_TIMEOUT_HOURS, 6, 'IMPORTER_IMPORT_TIMEOUT_HOURS') * 3_600_000,
      missingGraceMs: number(env.IMPORTER_MISSING_GRACE_MINUTES, 10, 'IMPORTER_MISSING_GRACE_MINUTES') * 60_000,
      pageSize: 50,
    },
    store: createObjectStore({ region, bucket, endpoint: env.OSS_ENDPOINT || undefined, credentials }),
    ens: createEnsApi(env.ENS_ENDPOINT || 'https://ens.aliyuncs.com', credentials),
    log,
    requestId,
    // stop starting work well before FC's timeout; the next run continues
    runDeadline: started + timeoutMs - Math.min(10_000, timeoutMs / 4),
  });
}
