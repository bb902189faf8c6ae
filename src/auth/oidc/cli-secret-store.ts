import type { OidcIdentity } from './oidc-identity.ts';

export type CliSecretCheck =
  | { status: 'unknown' }
  | { status: 'invalid'; reason: string }
  | { status: 'valid'; username: string; groups: string[]; admin: boolean };

/** Users who signed in with OpenID Connect, and the CLI secrets `docker login` uses for them. */
export interface CliSecretStore {
  /**
   * Records a sign-in: onboards the user at the first one, keeps the groups and admin flag the
   * identity provider sent, and replaces the user's CLI secret with `secret` (stored hashed).
   * Returns the Wharf user name, which is bound to the issuer and subject at the first sign-in.
   * Throws OidcLoginError (403) when the name belongs to someone else or the user is disabled.
   */
  recordLogin(identity: OidcIdentity, secret: string): Promise<string>;
  /** Checks a user name and CLI secret; `unknown` when no OIDC user has that name. */
  verify(username: string, secret: string): Promise<CliSecretCheck>;
}
