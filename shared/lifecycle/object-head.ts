import type { ObjectHead, ObjectStore } from '../adapters/object-store';

/** The object as it is now: one ranged read, and the bucket's versioning (cached). */

export type HeadStep = { kind: 'read'; key: string; head: ObjectHead } | { kind: 'gone' };

function safeDecodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

/** Whether OSS delivered the key URL-encoded is not documented: a key with % or + is tried decoded too. */
export const mayBeEncoded = (key: string): boolean => /[%+]/.test(key);

/** One ranged read; a key that may arrive URL-encoded is tried decoded once. */
export async function readCurrentHead(store: ObjectStore, key: string, bytes: number): Promise<HeadStep> {
  const head = await store.readHead(key, bytes);
  if (head) return { kind: 'read', key, head };
  const decoded = mayBeEncoded(key) ? safeDecodeKey(key) : key;
  if (decoded !== key) {
    const retried = await store.readHead(decoded, bytes);
    if (retried) return { kind: 'read', key: decoded, head: retried };
  }
  return { kind: 'gone' };
}

/** A bucket with versioning ignores x-oss-forbid-overwrite, so no claim holds there. */
const versioningSeen = new Map<string, { status: string | undefined; at: number }>();
const VERSIONING_RECHECK_MS = 5 * 60_000;

export async function bucketVersioning(store: ObjectStore, now: number): Promise<string | undefined> {
  const cached = versioningSeen.get(store.bucket);
  if (cached && now - cached.at < VERSIONING_RECHECK_MS) return cached.status;
  const status = await store.getVersioning();
  versioningSeen.set(store.bucket, { status, at: now });
  return status;
}
