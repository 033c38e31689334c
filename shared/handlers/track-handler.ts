import { createEnsApi } from '../adapters/ens';
import { createObjectStore } from '../adapters/oss';
import { expireWaitingManifests } from '../import/manifest-waiting';
import { processObjectEvent } from '../import/pipeline';
import { matchRule } from '../core/rules';
import { trackImports, type TrackSummary } from '../track/tracker';
import { DEFAULTS, readTrackConfig, type ImporterConfig } from '../runtime/config';
import { createNotifier } from '../runtime/notifier';
import { stateLayout } from '../state/layout';
import { stateStore } from './state-store';
import { holdNoticeIn, sendHeldNotices } from '../track/held-notices';
import { invocationScope, type InvocationContext } from '../runtime/fc-runtime';

/** FC entry for the timer-driven tracker. */
export async function handleTrackEvent(_event: unknown, context: InvocationContext, importConfig: ImporterConfig): Promise<TrackSummary> {
  const settings = readTrackConfig(process.env, context.region);
  const scope = invocationScope(context, 'track-imports', DEFAULTS.trackerMarginMs);
  // the run starts no work after its deadline; its last writes (the lock) may use the margin
  const hardDeadline = scope.started + scope.timeoutMs - Math.min(2_000, scope.timeoutMs / 10);
  const { bucket, region } = settings;
  const target = { region, bucket, endpoint: settings.ossEndpoint, internal: true, credentials: scope.credentials };
  // the work's calls end by the run's deadline; the lock's may use the margin after it
  const auth = { statePrefix: settings.statePrefix, stateKeys: importConfig.stateKeys };
  const store = stateStore(createObjectStore(target, { deadline: scope.deadline }), auth, scope.log);
  const lockStore = stateStore(createObjectStore(target, { deadline: hardDeadline }), auth, scope.log);
  const ens = createEnsApi(settings.ensEndpoint, scope.credentials);
  const { log, requestId, deadline } = scope;
  const layout = stateLayout(settings.statePrefix);
  const summary = await trackImports({
    notify: createNotifier(importConfig.notify, log, deadline, holdNoticeIn(store, layout)),
    previousPolicy: (_bucket, key) => matchRule(importConfig.rules, key)?.previous ?? 'keep',
    settings,
    store,
    lockStore,
    ens,
    log,
    requestId,
    runDeadline: deadline,
    expireWaitingManifests: () =>
      expireWaitingManifests(region, { config: importConfig, store, ens, log, requestId, deadline }, processObjectEvent),
  });
  // what a robot's rate limit held back, one digest a run; a robot that still refuses keeps them
  await sendHeldNotices({ store, layout, target: importConfig.notify, log, deadline }).catch((err: Error) =>
    log.warn({ event: 'notify-digest-failed', reason: err.message }),
  );
  return summary;
}
