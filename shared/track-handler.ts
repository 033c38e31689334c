import { createEnsApi } from './adapters/ens';
import { createObjectStore } from './adapters/oss';
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
  const log = createLogger(context.logger ? (l) => context.logger!.info(l) : (l) => console.log(l), { function: context.function?.name ?? 'track-imports', requestId }, [
    credentials.accessKeySecret,
    credentials.securityToken,
    credentials.accessKeyId,
  ]);
  const bucket = env.IMPORTER_BUCKET;
  if (!bucket) throw new Error('IMPORTER_BUCKET is not set: the tracker needs the bucket that holds the import records');
  const region = env.IMPORTER_BUCKET_REGION || context.region || env.FC_REGION || 'cn-beijing';
  const timeoutMs = (context.function?.timeout ?? 60) * 1000;
  const store = createObjectStore({ region, bucket, endpoint: env.OSS_ENDPOINT || undefined, credentials });
  const ens = createEnsApi(env.ENS_ENDPOINT || 'https://ens.aliyuncs.com', credentials);
  const runDeadline = started + timeoutMs - Math.min(10_000, timeoutMs / 4);
  const expireWaitingManifests = async (): Promise<number> => {
    const config = loadConfig(env, handlerDir);
    const due = new Set<string>();
    let token: string | undefined;
    do {
      const page = await store.listPage(`${config.statePrefix}waiting/`, token);
      for (const o of page.objects) {
        const entry = JSON.parse((await store.getText(o.key)) ?? '{}') as { manifestKey?: string; deadline?: string };
        if (entry.manifestKey && entry.deadline && Date.parse(entry.deadline) <= Date.now()) due.add(entry.manifestKey);
        else if (!entry.manifestKey) await store.delete(o.key);
      }
      token = page.nextToken;
    } while (token);
    for (const manifestKey of due) {
      if (Date.now() >= runDeadline) break;
      await processObjectEvent({ eventName: 'ObjectCreated:PutObject', region, bucket, key: manifestKey }, { config, store, ens, log, requestId, deadline: runDeadline, claimTtlMs: timeoutMs + 30_000 });
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
