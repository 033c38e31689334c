import type { Credentials } from '../adapters/ens';
import { createObjectStore } from '../adapters/oss';
import type { HoldNotice } from '../runtime/notifier';
import type { ImporterConfig } from '../runtime/config';
import type { InvocationContext } from '../runtime/fc-runtime';
import { stateLayout } from '../state/layout';
import { withStateAuth } from '../state/state-auth';
import { holdNoticeIn } from '../track/held-notices';

/** Where a function keeps a notice the robot's rate limit held back: the notice's bucket's state prefix. */
export function holdIn(config: ImporterConfig, context: InvocationContext, credentials: Credentials): HoldNotice {
  const region = context.region ?? process.env.FC_REGION ?? '';
  return (notice) =>
    holdNoticeIn(
      withStateAuth(createObjectStore({ region, bucket: notice.bucket, endpoint: config.ossEndpoint, internal: true, credentials }, {}), {
        prefix: config.statePrefix,
        keys: config.stateKeys,
      }),
      stateLayout(config.statePrefix),
    )(notice);
}
