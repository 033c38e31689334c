import { randomBytes } from 'node:crypto';
import { policyAllows, type PolicyDocument, type RequestContext } from './ram-policy';

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
  /** the policies bound to each role's STS keys; a role with none attached has no limit */
  private readonly bound = new Map<string, PolicyDocument[]>();
  /** which role each STS key was issued for */
  private readonly keyRole = new Map<string, string>();
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

  /** Issue STS keys as FC does for a function's role (the functions' shared role unless named). */
  issueSts(token?: string, role = 'ens-importer-function'): Required<AccessKey> {
    const key = {
      accessKeyId: `STS.local${randomBytes(8).toString('hex')}`,
      accessKeySecret: randomBytes(18).toString('base64url'),
      // real STS tokens are base64 with `+`, `/` and `=`: a test may ask for one
      securityToken: token ?? `CAIS${randomBytes(48).toString('base64url')}`,
    };
    this.keys.set(key.accessKeyId, key);
    this.keyRole.set(key.accessKeyId, role);
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

  /** Bind a role's STS keys to its policies, as RAM does for an assumed role. */
  attachRolePolicies(roleName: string, policies: PolicyDocument[]): void {
    this.bound.set(roleName, policies);
    this.roles.set(roleName, policies);
  }

  /** May this key do this? The account's own key may do anything; an STS key what its role allows. */
  allows(accessKeyId: string, action: string, resource: string, context: RequestContext = {}): boolean {
    const policies = this.bound.get(this.keyRole.get(accessKeyId) ?? '');
    if (accessKeyId === this.rootKey.accessKeyId || !policies?.length) return true;
    return policyAllows(policies, action, resource, context);
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
