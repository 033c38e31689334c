import { describe, expect, it } from 'vitest';
import { keyId, signState, stateKeysFrom, verifyState } from '../../shared/core/state-mac';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const body = '{"state":"available","imageId":"m-1"}';

describe('state object MACs', () => {
  it('verify what was signed, for that key only, and hand back the body as written', () => {
    const signed = signState({ current: A }, '.s/claims/1.json', body);
    expect(verifyState({ current: A }, '.s/claims/1.json', signed)).toEqual({ ok: true, body });
    expect(verifyState({ current: A }, '.s/claims/2.json', signed)).toEqual({ ok: false, reason: 'mac-mismatch' });
    expect(verifyState({ current: A }, '.s/claims/1.json', signed.replace('m-1', 'm-2'))).toEqual({ ok: false, reason: 'mac-mismatch' });
    expect(verifyState({ current: A }, '.s/claims/1.json', body)).toEqual({ ok: false, reason: 'unsigned' });
    expect(verifyState({ current: B }, '.s/claims/1.json', signed)).toEqual({ ok: false, reason: 'unknown-key' });
    expect(signed).not.toContain(A);
    expect(signed).toContain(keyId(A));
  });

  it('accept the previous key during a rotation, and sign with the current one', () => {
    const old = signState({ current: A }, 'k', body);
    expect(verifyState({ current: B, previous: A }, 'k', old)).toEqual({ ok: true, body });
    expect(signState({ current: B, previous: A }, 'k', body)).toContain(keyId(B));
    // once the rotation ends, what the old key signed is no longer trusted
    expect(verifyState({ current: B }, 'k', old).ok).toBe(false);
  });

  it('read keys from the environment, refusing short ones without showing them', () => {
    expect(stateKeysFrom({})).toBeUndefined();
    expect(stateKeysFrom({ IMPORTER_STATE_KEY: A, IMPORTER_STATE_KEY_PREVIOUS: '' })).toEqual({ current: A, previous: undefined });
    expect(() => stateKeysFrom({ IMPORTER_STATE_KEY: 'short-secret' })).toThrow(/32 to 256/);
    expect(() => stateKeysFrom({ IMPORTER_STATE_KEY: 'short-secret' })).not.toThrow(/short-secret/);
    expect(() => stateKeysFrom({ IMPORTER_STATE_KEY_PREVIOUS: A })).toThrow(/without IMPORTER_STATE_KEY/);
  });
});
