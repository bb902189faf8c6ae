import type { AuthenticationResult, Authenticator } from '../authenticator.ts';
import type { Principal } from '../principal.ts';
import type { LocalUser, LocalUsers } from './local-users.ts';

/**
 * Users of the metadata database who have a password. A user without one (created by OIDC for its
 * CLI secret) is `unknown` here, so the chain goes on to the authenticator that knows it.
 */
export class LocalUserAuthenticator implements Authenticator {
  readonly name = 'local';

  constructor(private readonly users: LocalUsers) {}

  async authenticate(username: string, password: string): Promise<AuthenticationResult> {
    const check = await this.users.verifyPassword(username, password);
    if (check.outcome === 'absent') return { outcome: 'unknown' };
    if (check.outcome === 'invalid') return { outcome: 'rejected', reason: 'wrong password' };
    if (check.user.disabled) return { outcome: 'rejected', reason: 'account disabled' };
    return { outcome: 'authenticated', principal: localPrincipal(check.user) };
  }
}

export function localPrincipal(user: LocalUser): Principal {
  return { name: user.username, source: 'local', groups: [], admin: user.admin };
}
