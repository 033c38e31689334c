import { randomBytes } from 'node:crypto';

/** A key pair the stand-ins accept; STS keys also need their token. */
export interface AccessKey {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export type KeyCheck = { ok: true; key: AccessKey } | { ok: false; reason: 'unknown-key' | 'bad-token' };

/**
 * The account's keys: one long-term AccessKey (what an operator has) and STS keys
 * issued on demand (what FC hands a function in context.credentials).
 */
export class CredentialStore {
  readonly accountId: string;
  readonly rootKey: AccessKey;
  private readonly keys = new Map<string, AccessKey>();

  constructor(accountId = '1234567890123456', rootKey?: AccessKey) {
    this.accountId = accountId;
    this.rootKey = rootKey ?? {
      accessKeyId: `LTAIlocal${randomBytes(6).toString('hex')}`,
      accessKeySecret: randomBytes(18).toString('base64url'),
    };
    this.keys.set(this.rootKey.accessKeyId, this.rootKey);
  }

  /** Issue STS keys as FC does for a function's role. */
  issueSts(token?: string): Required<AccessKey> {
    const key = {
      accessKeyId: `STS.local${randomBytes(8).toString('hex')}`,
      accessKeySecret: randomBytes(18).toString('base64url'),
      // real STS tokens are base64 with `+`, `/` and `=`: a test may ask for one
      securityToken: token ?? `CAIS${randomBytes(48).toString('base64url')}`,
    };
    this.keys.set(key.accessKeyId, key);
    return key;
  }

  /** Look up a key; an STS key must come with the token issued with it. */
  check(accessKeyId: string, securityToken: string | undefined): KeyCheck {
    const key = this.keys.get(accessKeyId);
    if (!key) return { ok: false, reason: 'unknown-key' };
    if ((key.securityToken ?? undefined) !== (securityToken || undefined)) {
      return { ok: false, reason: 'bad-token' };
    }
    return { ok: true, key };
  }

  /** Every secret value the stack knows: tests assert none of them reach a log. */
  secrets(): string[] {
    const out: string[] = [];
    for (const key of this.keys.values()) {
      out.push(key.accessKeySecret);
      if (key.securityToken) out.push(key.securityToken);
    }
    return out;
  }
}
