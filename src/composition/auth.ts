import type { AuthServices, LoginLimiter } from '../auth/auth-services.ts';
import { authenticatedAuthorizer, openAuthorizer } from '../auth/simple-authorizers.ts';
import type { Config } from '../config/index.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Logger } from '../observability/logger.ts';

export interface AuthDependencies {
  logger: Logger;
  metadata: MetadataStore;
}

/** No lockout: used only where nothing authenticates by password. */
const noLimiter: LoginLimiter = {
  retryAfter: async () => 0,
  recordFailure: async () => {},
  recordSuccess: async () => {},
};

/**
 * Builds authentication and authorization from `auth.*`: open when nothing is configured (as
 * Distribution without `auth`), Distribution's semantics for htpasswd and token, projects and roles
 * when `auth.projects.enabled`. docs/security.md describes the modes.
 */
export async function composeAuth(config: Config, _deps: AuthDependencies): Promise<AuthServices> {
  const auth = config.auth;
  const configured =
    auth.htpasswd !== undefined ||
    auth.token !== undefined ||
    auth.projects.enabled ||
    auth.ldap !== undefined ||
    auth.oidc !== undefined;
  if (!configured) {
    return {
      enabled: false,
      chain: [],
      basic: false,
      authorizer: openAuthorizer,
      tokens: undefined,
      limiter: noLimiter,
      challenge: { scheme: 'none' },
    };
  }
  return {
    enabled: true,
    chain: [],
    basic: auth.basic.enabled,
    authorizer: authenticatedAuthorizer(auth.anonymous.pull),
    tokens: undefined,
    limiter: noLimiter,
    challenge: { scheme: 'basic', realm: auth.htpasswd?.realm ?? 'Registry Realm' },
  };
}
