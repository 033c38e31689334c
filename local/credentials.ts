import { randomBytes } from 'node:crypto';
import { policyAllows, type PolicyDocument } from './ram-policy';

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
  /** the functions' role: its policies bind every STS key; none attached means no limit */
  private rolePolicies: PolicyDocument[] = [];
  /** roles by name, for the RAM API (doctor reads them) */
  readonly roles = new Map<string, PolicyDocument[]>();

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

  /** Describe a role (the RAM API answers with it) without binding any key to it. */
  describeRole(roleName: string, policies: PolicyDocument[]): void {
    this.roles.set(roleName, policies);
  }

  /** Bind the functions' STS keys to a role's policies, as RAM does for an assumed role. */
  attachRolePolicies(roleName: string, policies: PolicyDocument[]): void {
    this.rolePolicies = policies;
    this.roles.set(roleName, policies);
  }

  /** May this key do this? The account's own key may do anything; an STS key what its role allows. */
  allows(accessKeyId: string, action: string, resource: string): boolean {
    if (accessKeyId === this.rootKey.accessKeyId || !this.rolePolicies.length) return true;
    return policyAllows(this.rolePolicies, action, resource);
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
