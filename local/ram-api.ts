import type { CredentialStore } from './credentials';

/**
 * The RAM API's reads that `ens-importer doctor` makes (POP RPC, version 2015-05-01),
 * answered from the stand-in's roles. Served on the ENS stand-in's port: both are POP.
 */

export const RAM_API_VERSION = '2015-05-01';

export class RamFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const policyName = (role: string, i: number) => `${role}-policy${i ? `-${i + 1}` : ''}`;

export function ramAnswer(action: string, p: Record<string, string>, credentials: CredentialStore): Record<string, unknown> {
  const roleOf = (name: string | undefined) => {
    const policies = name ? credentials.roles.get(name) : undefined;
    if (!policies) throw new RamFailure(404, 'EntityNotExist.Role', `The role does not exist: ${name ?? ''}.`);
    return policies;
  };
  switch (action) {
    case 'GetRole':
      roleOf(p.RoleName);
      return { Role: { RoleName: p.RoleName, Arn: `acs:ram::${credentials.accountId}:role/${p.RoleName}` } };
    case 'ListPoliciesForRole':
      return {
        Policies: { Policy: roleOf(p.RoleName).map((_, i) => ({ PolicyName: policyName(p.RoleName!, i), PolicyType: 'Custom' })) },
      };
    case 'GetPolicy': {
      for (const [role, policies] of credentials.roles) {
        const i = policies.findIndex((_, n) => policyName(role, n) === p.PolicyName);
        if (i >= 0)
          return {
            Policy: { PolicyName: p.PolicyName, PolicyType: 'Custom', DefaultVersion: 'v1' },
            DefaultPolicyVersion: { VersionId: 'v1', IsDefaultVersion: true, PolicyDocument: JSON.stringify(policies[i]) },
          };
      }
      throw new RamFailure(404, 'EntityNotExist.Policy', `The policy does not exist: ${p.PolicyName ?? ''}.`);
    }
    default:
      throw new RamFailure(400, 'InvalidAction.NotFound', `Specified api is not found, please check your url and method.`);
  }
}
