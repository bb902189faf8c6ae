import { covers, type ResourceAccess } from './access.ts';
import type { Authorizer } from './authorizer.ts';
import { isAnonymous, type Principal } from './principal.ts';

/** No authentication configured: everything is allowed, as in Distribution without `auth`. */
export const openAuthorizer: Authorizer = {
  name: 'open',
  async grant(_principal, requested) {
    return requested.map((entry) => ({ ...entry, actions: [...entry.actions] }));
  },
  async pullableRepositories() {
    return undefined;
  },
};

/**
 * Distribution's htpasswd semantics: any authenticated user may do anything; anonymous callers may
 * pull only when `auth.anonymous.pull` allows it.
 */
export function authenticatedAuthorizer(anonymousPull: boolean): Authorizer {
  return {
    name: 'authenticated',
    async grant(principal, requested) {
      if (!isAnonymous(principal)) return openAuthorizer.grant(principal, requested);
      if (!anonymousPull) return [];
      return requested
        .filter((entry) => entry.type === 'repository')
        .map((entry) => ({ ...entry, actions: entry.actions.filter((action) => action === 'pull') }))
        .filter((entry) => entry.actions.length > 0);
    },
    async pullableRepositories(principal, _repositories) {
      if (!isAnonymous(principal) || anonymousPull) return undefined;
      return [];
    },
  };
}

/**
 * A principal that came with a verified token gets at most what the token grants, whatever the
 * inner authorizer would allow; anything else is asked of the inner authorizer.
 */
export function tokenBoundAuthorizer(inner: Authorizer): Authorizer {
  return {
    name: `token+${inner.name}`,
    async grant(principal: Principal, requested: readonly ResourceAccess[]) {
      const allowed = await inner.grant(principal, requested);
      if (principal.grants === undefined) return allowed;
      const grants = principal.grants;
      return allowed
        .map((entry) => ({
          ...entry,
          actions: entry.actions.filter((action) =>
            covers(grants, { type: entry.type, name: entry.name, actions: [action] }),
          ),
        }))
        .filter((entry) => entry.actions.length > 0);
    },
    async pullableRepositories(principal, repositories) {
      const inside = await inner.pullableRepositories(principal, repositories);
      if (principal.grants === undefined) return inside;
      const grants = principal.grants;
      return (inside ?? repositories).filter((name) => covers(grants, { type: 'repository', name, actions: ['pull'] }));
    },
  };
}
