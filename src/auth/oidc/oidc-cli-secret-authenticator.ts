import type { AuthenticationResult, Authenticator } from '../authenticator.ts';
import type { CliSecretStore } from './cli-secret-store.ts';

/**
 * `docker login` for users who sign in with OpenID Connect: the user name and the CLI secret
 * shown after the browser sign-in. The groups are those of the last sign-in.
 */
export class OidcCliSecretAuthenticator implements Authenticator {
  readonly name = 'oidc';

  constructor(private readonly store: CliSecretStore) {}

  async authenticate(username: string, password: string): Promise<AuthenticationResult> {
    const check = await this.store.verify(username, password);
    if (check.status === 'unknown') return { outcome: 'unknown' };
    if (check.status === 'invalid') return { outcome: 'rejected', reason: check.reason };
    return {
      outcome: 'authenticated',
      principal: { name: check.username, source: 'oidc', groups: check.groups, admin: check.admin },
    };
  }
}
