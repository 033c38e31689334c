import { createEnsApi } from './adapters/ens';
import { listAll } from './adapters/object-store';
import { createObjectStore } from './adapters/oss';
import { stateLayout } from './state/layout';
import { parseWaiting } from './state/records';
import { credentialsFrom, type InvocationContext } from './import-handler';
import { createLogger } from './logger';
import { loadConfig } from './config';
import { processObjectEvent } from './pipeline';
import { trackImports, type TrackSummary } from './tracker';

const number = (v: string | undefined, fallback: number, name: string): number => {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not "${v}"`);
  return n;
};

/** FC entry for the timer-driven tracker. */
export async function handleTrackEvent(_event: unknown, context: InvocationContext, handlerDir = process.cwd()): Promise<TrackSummary> {
  const started = Date.now();
  const env = process.env;
  const requestId = context.requestId ?? 'local';
  const credentials = credentialsFrom(context, env);
  const log = createLogger(
    context.logger ? (l) => context.logger!.info(l) : (l) => console.log(l),
    { function: context.function?.name ?? 'track-imports', requestId },
    [credentials.accessKeySecret, credentials.securityToken, credentials.accessKeyId],
  );
  const bucket = env.IMPORTER_BUCKET;
  if (!bucket) throw new Error('IMPORTER_BUCKET is not set: the tracker needs the bucket that holds the import records');
  const region = env.IMPORTER_BUCKET_REGION || context.region || env.FC_REGION || 'cn-beijing';
  const timeoutMs = (context.function?.timeout ?? 60) * 1000;
  const runDeadline = started + timeoutMs - Math.min(10_000, timeoutMs / 4);
  // the run starts no work after runDeadline; its last writes (the lock) may use the margin
  const store = createObjectStore(
    { region, bucket, endpoint: env.OSS_ENDPOINT || undefined, credentials },
    { deadline: started + timeoutMs - Math.min(2_000, timeoutMs / 10) },
  );
  const ens = createEnsApi(env.ENS_ENDPOINT || 'https://ens.aliyuncs.com', credentials);
  const expireWaitingManifests = async (): Promise<number> => {
    const config = loadConfig(env, handlerDir);
    const layout = stateLayout(config.statePrefix);
    const due = new Set<string>();
    for await (const o of listAll(store, layout.waitingPrefix, runDeadline)) {
      const entry = parseWaiting(await store.getText(o.key));
      if (!entry || entry.bucket !== bucket) {
        log.warn({
          event: 'state-object-invalid',
          key: o.key,
          reason: 'a waiting entry that does not parse, or names another bucket; removed',
        });
        await store.delete(o.key);
      } else if (Date.parse(entry.deadline) <= Date.now()) due.add(entry.manifestKey);
      if (Date.now() >= runDeadline) break;
    }
    for (const manifestKey of due) {
      if (Date.now() >= runDeadline) break;
      await processObjectEvent(
        { eventName: 'ObjectCreated:PutObject', region, bucket, key: manifestKey },
        { config, store, ens, log, requestId, deadline: runDeadline },
      );
    }
    return due.size;
  };
  return trackImports({
    expireWaitingManifests,
    settings: {
      statePrefix: env.IMPORTER_STATE_PREFIX || '.ens-importer/',
      importTimeoutMs: number(env.IMPORTER_IMPORT_TIMEOUT_HOURS, 6, 'IMPORTER_IMPORT_TIMEOUT_HOURS') * 3_600_000,
      missingGraceMs: number(env.IMPORTER_MISSING_GRACE_MINUTES, 10, 'IMPORTER_MISSING_GRACE_MINUTES') * 60_000,
      pageSize: 50,
    },
    store,
    ens,
    log,
    requestId,
    // stop starting work well before FC's timeout; the next run continues
    runDeadline,
  });
}
