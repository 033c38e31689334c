import type { ObjectStore } from '../adapters/object-store';
import { signState, UNVERIFIED_MARK, verifyState, withoutMac, type StateKeys } from '../core/state-mac';

export interface StateAuth {
  prefix: string;
  keys: StateKeys | undefined;
  /** told of every state object that failed verification (the caller logs it) */
  onUnverified?: (key: string, reason: string) => void;
}

/**
 * The store as the state layer sees it: bodies written under the state prefix are signed,
 * bodies read from it verified. One that fails is handed on marked (UNVERIFIED_MARK and the
 * body as found), so no schema accepts it: the lease sets it aside for `why` and its successor
 * searches ENS before any ImportImage; the tracker skips it. Empty bodies (index entries, whose
 * meaning is their name) and everything outside the prefix pass as they are. Without keys
 * (IMPORTER_STATE_KEY unset) nothing is signed or verified.
 */
export function withStateAuth(store: ObjectStore, auth: StateAuth): ObjectStore {
  const { keys, prefix } = auth;
  const isState = (key: string) => key.startsWith(prefix);
  // without a key nothing is signed or verified; a signed body is still read (its MAC line dropped)
  if (!keys)
    return {
      ...store,
      getText: async (key) => ((text) => (text !== undefined && isState(key) ? withoutMac(text) : text))(await store.getText(key)),
    };
  const sign = (key: string, body: string) => (isState(key) && body !== '' ? signState(keys, key, body) : body);
  return {
    ...store,
    bucket: store.bucket,
    createIfAbsent: (key, body) => store.createIfAbsent(key, sign(key, body)),
    putText: (key, body) => store.putText(key, sign(key, body)),
    async getText(key) {
      const text = await store.getText(key);
      if (text === undefined || text === '' || !isState(key)) return text;
      const v = verifyState(keys, key, text);
      if (v.ok) return v.body;
      auth.onUnverified?.(key, v.reason);
      return `${UNVERIFIED_MARK}${text}`;
    },
  };
}
