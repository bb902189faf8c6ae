import type { Principal } from './principal.ts';

export interface LoginContext {
  /** The client's address, for lockout and audit. */
  remoteAddress: string;
}

/**
 * The outcome of one authenticator on a username and password. `unknown` passes the credentials
 * to the next authenticator of the chain; `rejected` ends the chain: this authenticator knows the
 * account and the password is wrong (or the account is disabled or expired).
 */
export type AuthenticationResult =
  | { outcome: 'authenticated'; principal: Principal }
  | { outcome: 'unknown' }
  | { outcome: 'rejected'; reason: string };

/** One source of identities: htpasswd, local users, robots, LDAP, OIDC CLI secrets. */
export interface Authenticator {
  readonly name: string;
  authenticate(username: string, password: string, context: LoginContext): Promise<AuthenticationResult>;
}

/**
 * Asks each authenticator in order; the first that recognises the username decides. Nobody
 * recognising it is a rejection too.
 */
export async function authenticateWithChain(
  chain: readonly Authenticator[],
  username: string,
  password: string,
  context: LoginContext,
): Promise<AuthenticationResult> {
  for (const authenticator of chain) {
    const result = await authenticator.authenticate(username, password, context);
    if (result.outcome !== 'unknown') return result;
  }
  return { outcome: 'rejected', reason: 'unknown user' };
}
