import type { IdentitySource, Principal } from '../principal.ts';
import type { HtpasswdAuthenticator } from './htpasswd-authenticator.ts';
import { localPrincipal } from './local-user-authenticator.ts';
import type { LocalUsers } from './local-users.ts';
import { robotPrincipal } from './robot-authenticator.ts';
import type { Robots } from './robots.ts';

/** An account as it stands now: what it may do, and a value that changes with its password. */
export interface StandingIdentity {
  principal: Principal;
  credential: string;
}

/**
 * The account `name` of `source` as it stands now; undefined once it is gone, disabled or expired;
 * `unverifiable` for sources that cannot be asked without the user's password (LDAP, OIDC).
 */
export type StandingLookup = (
  source: IdentitySource,
  name: string,
) => Promise<StandingIdentity | undefined | 'unverifiable'>;

export interface StandingSources {
  /** Local users and robots: projects mode only. */
  users?: LocalUsers;
  robots?: Robots;
  htpasswd?: HtpasswdAuthenticator;
}

/** Looks accounts up where that costs one database row or one map entry: local users, robots, htpasswd. */
export function standingIdentities(sources: StandingSources): StandingLookup {
  return async (source, name) => {
    switch (source) {
      case 'local': {
        const user = await sources.users?.find(name);
        if (!user || user.disabled || !user.hasPassword) return undefined;
        // The change time, not the hash: an automatic rehash at login must not end sessions.
        return { principal: localPrincipal(user), credential: `password:${user.passwordChangedAt ?? user.createdAt}` };
      }
      case 'robot': {
        const found = await sources.robots?.findWithSecretStamp(name);
        if (!found || found.robot.disabled || sources.robots?.isExpired(found.robot)) return undefined;
        return { principal: robotPrincipal(found.robot), credential: found.secretStamp };
      }
      case 'htpasswd': {
        const hash = await sources.htpasswd?.storedHash(name);
        if (hash === undefined) return undefined;
        return { principal: { name, source: 'htpasswd', groups: [], admin: false }, credential: hash };
      }
      case 'ldap':
      case 'oidc':
        return 'unverifiable';
      default:
        return undefined;
    }
  };
}
