import type { ResourceAccess } from './access.ts';

/** Where an identity was established. */
export type IdentitySource = 'anonymous' | 'htpasswd' | 'local' | 'robot' | 'ldap' | 'oidc' | 'certificate' | 'token';

/** Who is calling, once authenticated. Authorizers decide what this principal may do. */
export interface Principal {
  /** The user name (`alice`), robot name (`robot$project+ci`) or `''` for anonymous. */
  name: string;
  source: IdentitySource;
  /** Directory or identity-provider groups (LDAP, OIDC), for group membership of projects. */
  groups: readonly string[];
  /** System administrator: every action everywhere. */
  admin: boolean;
  /**
   * Access granted by a verified bearer token: in token mode these claims are the whole truth.
   * Absent for principals authenticated by credentials.
   */
  grants?: readonly ResourceAccess[];
  /** A robot account's fixed permissions; robots get nothing beyond these. */
  permissions?: readonly ProjectPermission[];
}

/** A robot's permission on one project (`*` for every project, system robots only). */
export interface ProjectPermission {
  project: string;
  actions: readonly string[];
}

export const anonymous: Principal = Object.freeze({ name: '', source: 'anonymous', groups: [], admin: false });

export function isAnonymous(principal: Principal): boolean {
  return principal.source === 'anonymous';
}
