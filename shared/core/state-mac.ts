import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * What the functions write under the state prefix carries an HMAC-SHA256 over the object's
 * key and body, with a key uploaders cannot read (the functions' IMPORTER_STATE_KEY). Anyone
 * who can upload can write a well-formed record; without the key they cannot sign it, and a
 * body copied from one key to another fails too (the key is in the MAC). Two keys are accepted
 * during a rotation: the current one signs, the previous one still verifies.
 *
 * The MAC is a last line, so the record above it stays the JSON it was:
 *   {...}\n#ens-importer-mac v1 <key id> <base64url>
 */

export interface StateKeys {
  current: string;
  previous?: string;
}

const TRAILER = '\n#ens-importer-mac v1 ';

/** 8 hex of the key's SHA-256: says which key signed, without showing it */
export const keyId = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

const mac = (key: string, objectKey: string, body: string): string =>
  createHmac('sha256', key).update(`${objectKey}\n${body}`).digest('base64url');

export function signState(keys: StateKeys, objectKey: string, body: string): string {
  return `${body}${TRAILER}${keyId(keys.current)} ${mac(keys.current, objectKey, body)}`;
}

export type Verified = { ok: true; body: string } | { ok: false; reason: 'unsigned' | 'unknown-key' | 'mac-mismatch' };

export function verifyState(keys: StateKeys, objectKey: string, signed: string): Verified {
  const at = signed.lastIndexOf(TRAILER);
  if (at < 0) return { ok: false, reason: 'unsigned' };
  const body = signed.slice(0, at);
  const [kid, given] = signed.slice(at + TRAILER.length).split(' ');
  const key = [keys.current, keys.previous].find((k) => k && keyId(k) === kid);
  if (!key || !given) return { ok: false, reason: 'unknown-key' };
  const a = Buffer.from(given);
  const b = Buffer.from(mac(key, objectKey, body));
  return a.length === b.length && timingSafeEqual(a, b) ? { ok: true, body } : { ok: false, reason: 'mac-mismatch' };
}

/** The body without its MAC line, unverified: for a reader that has no key (it trusts nothing more than before). */
export function withoutMac(text: string): string {
  const at = text.lastIndexOf(TRAILER);
  return at < 0 ? text : text.slice(0, at);
}

/** what a reader gets for a body that failed verification: kept whole, and never valid JSON */
export const UNVERIFIED_MARK = 'ens-importer: unverified state object\n';

/** The keys from the environment; a key shorter than 32 characters is refused (message names the variable only). */
export function stateKeysFrom(env: Readonly<Record<string, string | undefined>>): StateKeys | undefined {
  const current = env.IMPORTER_STATE_KEY || undefined;
  const previous = env.IMPORTER_STATE_KEY_PREVIOUS || undefined;
  for (const [name, v] of [
    ['IMPORTER_STATE_KEY', current],
    ['IMPORTER_STATE_KEY_PREVIOUS', previous],
  ] as const)
    if (v !== undefined && !/^[\x21-\x7e]{32,256}$/.test(v))
      throw new Error(`${name} must be 32 to 256 printable ASCII characters (its value is not shown)`);
  if (!current && previous) throw new Error('IMPORTER_STATE_KEY_PREVIOUS is set without IMPORTER_STATE_KEY');
  return current ? { current, previous } : undefined;
}
