import type { OidcIdentity } from './oidc-identity.ts';
import { OidcLoginError } from './oidc-login-error.ts';

export interface ClaimMapping {
  usernameclaim: string;
  groupsclaim: string;
  admingroup?: string;
}

/**
 * Maps the claims of an ID token (completed by the UserInfo response) to an identity. A claim
 * name with dots that is not itself a claim is a path into nested claims, so Keycloak's
 * `realm_access.roles` works as a groups claim.
 */
export function identityFromClaims(
  issuer: string,
  claims: Record<string, unknown>,
  mapping: ClaimMapping,
): OidcIdentity {
  const subject = claims.sub;
  if (typeof subject !== 'string' || subject === '') {
    throw new OidcLoginError(403, 'the identity provider sent no subject (sub claim)');
  }
  const username = claimAt(claims, mapping.usernameclaim);
  if (typeof username !== 'string' || username === '') {
    throw new OidcLoginError(403, `the identity provider sent no "${mapping.usernameclaim}" claim to name the user`);
  }
  const problem = usernameProblem(username);
  if (problem !== undefined) throw new OidcLoginError(403, `the user name "${username}" ${problem}`);
  const groups = groupsFrom(claimAt(claims, mapping.groupsclaim));
  const admingroup = mapping.admingroup;
  const email = claims.email;
  return {
    issuer,
    subject,
    username,
    email: typeof email === 'string' ? email : undefined,
    groups,
    admin: admingroup !== undefined && admingroup !== '' && groups.includes(admingroup),
  };
}

function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) return claims[name];
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function groupsFrom(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (!Array.isArray(value)) return [];
  const groups = value.filter((item): item is string => typeof item === 'string' && item !== '');
  return [...new Set(groups)].sort();
}

/** Basic authentication cannot carry a `:` in the user name; control characters garble logs. */
function usernameProblem(username: string): string | undefined {
  if (username.length > 255) return 'is longer than 255 characters';
  if (username.includes(':')) return 'contains ":", which docker login cannot send';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
  if (/[\u0000-\u001f\u007f]/.test(username)) return 'contains control characters';
  if (username.trim() !== username) return 'starts or ends with white space';
  return undefined;
}
