import type { EnsApi } from '../shared/adapters/ens';
import type { ObjectStore } from '../shared/adapters/oss';
import { TAG_ERROR, TAG_IMAGE_ID, TAG_STATUS } from '../shared/core/tags';
import { FAILED } from '../shared/track/ens-status';
import { EXIT } from './settings';

/**
 * `--wait`: follow one version to where it ends, one line per change: the object's tags as the
 * functions write them, and the image's status as ENS tells it (ENS is the truth: its
 * `Available` ends the wait before the tracker's next run tags the object). Reads only.
 */

export interface FollowLine {
  stage: 'object' | 'ens' | 'end';
  key: string;
  status?: string;
  imageId?: string;
  error?: string;
  at: string;
}

export type FollowEnd = 'available' | 'failed' | 'rejected' | 'deleted' | 'converted' | 'interrupted' | 'timeout';

export const EXIT_FOR_END: Record<FollowEnd, number> = {
  available: EXIT.ok,
  converted: EXIT.ok,
  rejected: EXIT.refused,
  failed: EXIT.failed,
  deleted: EXIT.failed,
  interrupted: EXIT.interrupted,
  timeout: EXIT.error,
};

const OBJECT_ENDS = new Set(['available', 'failed', 'rejected', 'deleted', 'converted']);

export async function followVersion(d: {
  store: ObjectStore;
  ens: EnsApi;
  key: string;
  intervalMs: number;
  timeoutMs: number;
  signal: AbortSignal;
  emit(line: FollowLine): void;
}): Promise<FollowEnd> {
  const until = Date.now() + d.timeoutMs;
  const line = (l: Omit<FollowLine, 'key' | 'at'>) => d.emit({ ...l, key: d.key, at: new Date().toISOString() });
  let seen = '';
  let seenEns = '';
  while (!d.signal.aborted && Date.now() < until) {
    const tags = (await d.store.getTags(d.key)) ?? {};
    const status = tags[TAG_STATUS] ?? 'none';
    const imageId = tags[TAG_IMAGE_ID];
    const now = `${status} ${imageId ?? ''} ${tags[TAG_ERROR] ?? ''}`;
    if (now !== seen) line({ stage: 'object', status, imageId, error: tags[TAG_ERROR] });
    seen = now;
    if (OBJECT_ENDS.has(status)) return end(line, status as FollowEnd, imageId, tags[TAG_ERROR]);
    if (imageId) {
      const found = (await d.ens.describeSelfImages({ ImageId: imageId }, 10_000)).images.find((i) => i.ImageId === imageId);
      const ens = found?.Status ?? 'not listed';
      if (ens !== seenEns) line({ stage: 'ens', status: ens, imageId });
      seenEns = ens;
      if (ens === 'Available') return end(line, 'available', imageId);
      if (FAILED.has(ens)) return end(line, 'failed', imageId, ens);
    }
    await new Promise((r) => {
      const t = setTimeout(r, d.intervalMs);
      d.signal.addEventListener('abort', () => r(clearTimeout(t)), { once: true });
    });
  }
  return end(line, d.signal.aborted ? 'interrupted' : 'timeout');
}

function end(line: (l: Omit<FollowLine, 'key' | 'at'>) => void, how: FollowEnd, imageId?: string, error?: string): FollowEnd {
  line({ stage: 'end', status: how, imageId, error });
  return how;
}

/** How a line reads on a terminal. */
export function followText(l: FollowLine): string {
  const what = l.stage === 'ens' ? `ENS says ${l.status} (${l.imageId})` : l.stage === 'end' ? `ended ${l.status}` : `object ${l.status}`;
  return `${l.at.slice(11, 19)}  ${what}${l.stage !== 'ens' && l.imageId ? ` ${l.imageId}` : ''}${l.error ? ` (${l.error})` : ''}`;
}

/** Follow with Ctrl-C leaving the work running and saying how to watch again. */
export async function followFromCli(
  d: Omit<Parameters<typeof followVersion>[0], 'signal' | 'emit'>,
  o: { json?: boolean; resume: string },
): Promise<FollowEnd> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const emit = (l: FollowLine) => console.log(o.json ? JSON.stringify(l) : followText(l));
  try {
    const how = await followVersion({ ...d, signal: abort.signal, emit });
    if (how === 'interrupted' || how === 'timeout') console.error(`the import goes on; watch it again with: ${o.resume}`);
    return how;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
