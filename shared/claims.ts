import { createHash } from 'node:crypto';
import type { ProvenancedValue } from './import-params';
import type { ObjectStore } from './adapters/oss';

/**
 * Exactly-once: (bucket, key, ETag) is claimed by creating an object under the state
 * prefix with x-oss-forbid-overwrite; the same object later holds the import record.
 * Life cycle: claimed → importing → available | failed, or rejected.
 */

export type RecordState = 'claimed' | 'importing' | 'available' | 'failed' | 'rejected';

export interface ImportRecord {
  state: RecordState;
  bucket: string;
  key: string;
  etag: string;
  size?: number;
  /** bumped each time a stale claim is taken over */
  generation: number;
  claimedAt: string;
  /** after this the claimant is certainly gone (its function timed out) */
  claimDeadline: string;
  requestId?: string;
  imageId?: string;
  imageName?: string;
  ensRequestId?: string;
  errorCode?: string;
  reason?: string;
  params?: Record<string, ProvenancedValue>;
  inspection?: Record<string, unknown>;
  importedAt?: string;
  adopted?: boolean;
  /** a multi-disk image: its disks in order (the record's key is the manifest) */
  disks?: string[];
  history?: { state: RecordState; at: string; note?: string }[];
}

export function claimKey(statePrefix: string, bucket: string, key: string, etag: string): string {
  const digest = createHash('sha256').update(`${bucket}\n${key}\n${etag}`).digest('hex').slice(0, 40);
  return `${statePrefix}claims/${digest}.json`;
}

/**
 * The pending index: one empty object per import still in progress, named so that a
 * listing alone gives the ImageId and the record (no read per entry).
 */
export function pendingKey(statePrefix: string, imageId: string, recordKey: string): string {
  const hash = recordKey.slice(recordKey.lastIndexOf('/') + 1).replace(/\.json$/, '');
  return `${statePrefix}pending/${imageId}~${hash}`;
}

export function parsePendingKey(statePrefix: string, key: string): { imageId: string; recordKey: string } | undefined {
  const dir = `${statePrefix}pending/`;
  if (!key.startsWith(dir)) return undefined;
  const m = /^(m-[a-z0-9]+)~([0-9a-f]+)$/.exec(key.slice(dir.length));
  return m ? { imageId: m[1]!, recordKey: `${statePrefix}claims/${m[2]}.json` } : undefined;
}

export type ClaimResult =
  | { kind: 'claimed'; record: ImportRecord }
  | { kind: 'taken-over'; record: ImportRecord; stale: ImportRecord }
  | { kind: 'done'; record: ImportRecord };

export class ClaimBusy extends Error {
  constructor(readonly holder: ImportRecord) {
    super(`another invocation (${holder.requestId ?? 'unknown'}) holds the claim until ${holder.claimDeadline}`);
  }
}

export interface ClaimOptions {
  now: () => number;
  deadline: number;
  sleep: (ms: number) => Promise<void>;
}

const parseRecord = (text: string): ImportRecord | undefined => {
  try {
    const r = JSON.parse(text) as ImportRecord;
    return typeof r.state === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Claim an object version. A finished record means a duplicate; a claim held by a live
 * invocation is waited for; a claim whose holder is past its deadline is taken over
 * (one taker wins, through a create-if-absent generation marker).
 */
export async function claim(store: ObjectStore, key: string, fresh: ImportRecord, o: ClaimOptions): Promise<ClaimResult> {
  const body = JSON.stringify(fresh);
  if (await store.createIfAbsent(key, body)) return { kind: 'claimed', record: fresh };
  for (let wait = 250; ; wait = Math.min(wait * 2, 4000)) {
    const text = await store.getText(key);
    if (text === undefined) {
      // released by an attempt that failed transiently: claim it again
      if (await store.createIfAbsent(key, body)) return { kind: 'claimed', record: fresh };
      continue;
    }
    const existing = parseRecord(text);
    // our own create, whose reply was lost and retried
    if (existing && existing.requestId === fresh.requestId && existing.claimedAt === fresh.claimedAt && existing.state === 'claimed') {
      return { kind: 'claimed', record: fresh };
    }
    if (existing && existing.state !== 'claimed') return { kind: 'done', record: existing };
    if (!existing || o.now() > Date.parse(existing.claimDeadline)) {
      const generation = (existing?.generation ?? 0) + 1;
      if (await store.createIfAbsent(`${key}.g${generation}`, body)) {
        const record = { ...fresh, generation };
        await store.putText(key, JSON.stringify(record));
        return { kind: 'taken-over', record, stale: existing ?? { ...fresh, generation: generation - 1 } };
      }
    }
    if (o.now() + wait > o.deadline) throw new ClaimBusy(existing ?? fresh);
    await o.sleep(wait);
  }
}
