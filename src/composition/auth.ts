import type { FastifyInstance } from 'fastify';
import type { AuthServices, LoginLimiter } from '../auth/auth-services.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { Authorizer } from '../auth/authorizer.ts';
import { bootstrapAdmin } from '../auth/identities/bootstrap-admin.ts';
import { HtpasswdAuthenticator } from '../auth/identities/htpasswd-authenticator.ts';
import { LocalUserAuthenticator } from '../auth/identities/local-user-authenticator.ts';
import { LocalUsers } from '../auth/identities/local-users.ts';
import { MemoryLoginLimiter } from '../auth/identities/login-limiter.ts';
import { RedisLoginLimiter } from '../auth/identities/redis-login-limiter.ts';
import { RobotAuthenticator } from '../auth/identities/robot-authenticator.ts';
import { isRobotName } from '../auth/identities/robot-names.ts';
import { Robots } from '../auth/identities/robots.ts';
import { standingIdentities } from '../auth/identities/standing-identities.ts';
import { createLdapAuthenticator } from '../auth/ldap/ldap-authenticator.ts';
import { OidcCliSecretAuthenticator } from '../auth/oidc/oidc-cli-secret-authenticator.ts';
import { OidcClient } from '../auth/oidc/oidc-client.ts';
import { SqlCliSecretStore } from '../auth/oidc/sql-cli-secret-store.ts';
import type { Principal } from '../auth/principal.ts';
import { ProjectAuthorizer } from '../auth/projects/project-authorizer.ts';
import { authenticatedAuthorizer, openAuthorizer, tokenBoundAuthorizer } from '../auth/simple-authorizers.ts';
import { RefreshTokens } from '../auth/token/refresh-tokens.ts';
import { loadSigningKey } from '../auth/token/signing-key.ts';
import { TokenIssuer } from '../auth/token/token-issuer.ts';
import { JwtTokenVerifier } from '../auth/token/token-verifier.ts';
import type { RedisConnection } from '../cache/redis-connection.ts';
import type { Config } from '../config/index.ts';
import type { ApiRoute } from '../http/api/api-route.ts';
import { registerManagementApi } from '../http/api/management-api.ts';
import type { ProjectContents } from '../http/api/management-context.ts';
import { userRoutes } from '../http/api/users-routes.ts';
import type { AccessControl } from '../http/auth/access-control.ts';
import { deriveLoginStateKey } from '../http/oidc/login-state-cookie.ts';
import { oidcUrlsFrom, registerOidcRoutes } from '../http/oidc/oidc-routes.ts';
import { registerTokenRoutes } from '../http/token/token-routes.ts';
import { IdentityStore } from '../metadata/identity-store.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { ProjectStore } from '../metadata/project-store.ts';
import type { Logger } from '../observability/logger.ts';

export interface AuthDependencies {
  logger: Logger;
  metadata: MetadataStore;
  /** The registry's version, for the API document. */
  version: string;
  /** With Redis, failed logins are counted across all instances. */
  redis?: RedisConnection;
  /** `http.secret`, or the one generated in its place: signs the OIDC login cookie. */
  httpSecret: string;
  /** Further management API routes (below /api/v1), mounted in projects mode. */
  apiRoutes?: readonly ApiRoute[];
  /** Lets DELETE /api/v1/projects/{name}?force=true delete the project's repositories. */
  projectContents?: ProjectContents;
}

export interface ComposedAuth {
  services: AuthServices;
  /** Routes that belong to authentication: token service, OIDC sign-in, management API. */
  registerRoutes(app: FastifyInstance, access: AccessControl): void;
  close(): void;
}

/** The path of the built-in token service; the Bearer challenge's realm points here. */
const tokenServicePath = '/service/token';

/**
 * Builds authentication and authorization from `auth.*`: open when nothing is configured (as
 * Distribution without `auth`), Distribution's semantics for htpasswd and token, projects and roles
 * when `auth.projects.enabled`. docs/security.md describes the modes.
 */
export async function composeAuth(config: Config, deps: AuthDependencies): Promise<ComposedAuth> {
  const auth = config.auth;
  const { logger } = deps;
  const projectsMode = auth.projects.enabled;
  const configured =
    auth.htpasswd !== undefined ||
    auth.token !== undefined ||
    projectsMode ||
    auth.ldap !== undefined ||
    auth.oidc !== undefined ||
    config.http.tls.clientcas.length > 0;
  if (!configured) {
    return {
      services: {
        enabled: false,
        chain: [],
        basic: false,
        authorizer: openAuthorizer,
        tokens: undefined,
        limiter: noLimiter,
        challenge: { scheme: 'none' },
      },
      registerRoutes: () => {},
      close: () => {},
    };
  }

  const db = deps.metadata.db;
  const identities = new IdentityStore(db);
  const users = new LocalUsers(identities);
  const robots = new Robots(identities);
  const cliSecrets = auth.oidc ? new SqlCliSecretStore(db) : undefined;
  const lockout = { attempts: auth.lockout.attempts, windowMs: auth.lockout.window, durationMs: auth.lockout.duration };
  const limiter = deps.redis ? new RedisLoginLimiter(deps.redis, lockout) : new MemoryLoginLimiter(lockout);

  // Robots and local users exist only in projects mode; then htpasswd, OIDC CLI secrets, LDAP.
  const chain: Authenticator[] = [];
  if (projectsMode) chain.push(new RobotAuthenticator(robots), new LocalUserAuthenticator(users));
  const htpasswd = auth.htpasswd ? await HtpasswdAuthenticator.open({ path: auth.htpasswd.path, logger }) : undefined;
  if (htpasswd) chain.push(htpasswd);
  if (cliSecrets) chain.push(new OidcCliSecretAuthenticator(cliSecrets));
  if (auth.ldap) chain.push(await createLdapAuthenticator(auth.ldap));

  const projects = projectsMode ? new ProjectStore(db) : undefined;
  const projectAuthorizer = projects
    ? new ProjectAuthorizer(projects, { autoCreate: auth.autocreateprojects, creators: 'users' })
    : undefined;
  // Without projects, Distribution's rule: any authenticated caller may do anything; a token's
  // claims bound it.
  const authorizer: Authorizer =
    projectAuthorizer ?? tokenBoundAuthorizer(authenticatedAuthorizer(auth.anonymous.pull));

  if (projectsMode) {
    const first = await bootstrapAdmin(users, { configuredPassword: auth.admin.password, env: process.env });
    if (first.created && first.password !== undefined) {
      logger.warn({ user: first.username }, 'created the first administrator; its password is printed once on stderr');
      process.stderr.write(
        `\nwharf: first administrator "${first.username}" created with password: ${first.password}\n\n`,
      );
    } else if (first.created) {
      logger.info({ user: first.username, from: first.passwordSource }, 'created the first administrator');
    }
  }

  const services: AuthServices = {
    enabled: true,
    chain,
    basic: auth.basic.enabled,
    authorizer,
    tokens: undefined,
    limiter,
    challenge: { scheme: 'basic', realm: auth.htpasswd?.realm ?? 'Registry Realm' },
    certificatePrincipal:
      config.http.tls.clientcas.length > 0
        ? async (name) => certificatePrincipal(name, users, projectsMode)
        : undefined,
    preparePush: projectAuthorizer
      ? (principal, repository) => projectAuthorizer.preparePush(principal, repository)
      : undefined,
    standing: standingIdentities(projectsMode ? { users, robots, htpasswd } : { htpasswd }),
  };

  const tokenService = auth.tokenservice.enabled ?? projectsMode;
  let registerTokenService: ((app: FastifyInstance) => void) | undefined;
  if (tokenService) {
    const settings = auth.tokenservice;
    const key = await loadSigningKey({
      key: settings.key,
      algorithm: settings.algorithm,
      directory: config.storage.filesystem.rootdirectory,
    });
    if (key.generated) logger.info({ path: key.source, kid: key.keyId }, 'generated the token signing key');
    const service = settings.service ?? (config.http.host ? new URL(config.http.host).host : 'wharf');
    const issuer = new TokenIssuer(key, { issuer: settings.issuer, lifetimeMs: settings.expiration });
    const refreshTokens = new RefreshTokens(key, {
      issuer: settings.issuer,
      lifetimeMs: settings.refreshexpiration,
      revalidate: (name) => revalidate(name, { users, robots, htpasswd, projectsMode }),
    });
    services.tokens = JwtTokenVerifier.forIssuer(key, { issuer: settings.issuer, service });
    services.challenge = {
      scheme: 'bearer',
      realm: config.http.host ? new URL(tokenServicePath, config.http.host).href : tokenServicePath,
      service,
    };
    // A push scope for a project that auto-creation would create must find it there when granted.
    const tokenAuthorizer: Authorizer = projectAuthorizer
      ? {
          name: authorizer.name,
          pullableRepositories: (principal, repositories) => authorizer.pullableRepositories(principal, repositories),
          async grant(principal, requested) {
            for (const entry of requested) {
              if (entry.type === 'repository' && entry.actions.includes('push') && auth.autocreateprojects) {
                await projectAuthorizer.preparePush(principal, entry.name).catch(() => {});
              }
            }
            return authorizer.grant(principal, requested);
          },
        }
      : authorizer;
    registerTokenService = (app) =>
      registerTokenRoutes(app, { chain, authorizer: tokenAuthorizer, limiter, issuer, refreshTokens, service });
  } else if (auth.token) {
    services.tokens = await JwtTokenVerifier.fromConfig(auth.token);
    services.challenge = { scheme: 'bearer', realm: auth.token.realm, service: auth.token.service };
  }

  return {
    services,
    registerRoutes(app, access) {
      registerTokenService?.(app);
      if (auth.oidc && cliSecrets) {
        registerOidcRoutes(app, {
          client: new OidcClient(auth.oidc),
          store: cliSecrets,
          cookieKey: deriveLoginStateKey(deps.httpSecret),
          ...oidcUrlsFrom(auth.oidc, config.http.host),
        });
      }
      if (projects && projectAuthorizer) {
        const identify = (request: Parameters<AccessControl['identify']>[0]) => access.identify(request);
        const unauthorized = (message: string) => access.unauthorized(message, []);
        registerManagementApi(app, {
          identify,
          unauthorized,
          projects,
          authorizer: projectAuthorizer,
          robots,
          credentialsChanged: (name) => access.forget(name),
          routes: [
            ...userRoutes({
              users,
              identify,
              unauthorized,
              limiter,
              credentialsChanged: (name) => access.forget(name),
            }),
            ...(deps.apiRoutes ?? []),
          ],
          contents: deps.projectContents,
          version: deps.version,
        });
      }
    },
    close() {
      htpasswd?.close();
    },
  };
}

/** No lockout where nothing authenticates by password. */
const noLimiter: LoginLimiter = {
  retryAfter: async () => 0,
  recordFailure: async () => {},
  recordSuccess: async () => {},
};

/** A verified client certificate names a user: the local user of that name in projects mode. */
async function certificatePrincipal(
  name: string,
  users: LocalUsers,
  projectsMode: boolean,
): Promise<Principal | undefined> {
  if (!projectsMode) return { name, source: 'certificate', groups: [], admin: false };
  const user = await users.find(name);
  if (!user || user.disabled) return undefined;
  return { name, source: 'certificate', groups: [], admin: user.admin };
}

/** The principal behind a refresh token, as it stands now; undefined once it is gone or disabled. */
async function revalidate(
  name: string,
  sources: { users: LocalUsers; robots: Robots; htpasswd: HtpasswdAuthenticator | undefined; projectsMode: boolean },
): Promise<Principal | undefined> {
  if (isRobotName(name)) {
    if (!sources.projectsMode) return undefined;
    const robot = await sources.robots.find(name);
    if (!robot || robot.disabled || (robot.expiresAt !== null && robot.expiresAt <= Date.now())) return undefined;
    return { name, source: 'robot', groups: [], admin: false, permissions: robot.permissions };
  }
  if (sources.projectsMode) {
    const user = await sources.users.find(name);
    if (user) return user.disabled ? undefined : { name, source: 'local', groups: [], admin: user.admin };
  }
  if (sources.htpasswd?.usernames().includes(name)) return { name, source: 'htpasswd', groups: [], admin: false };
  return undefined;
}
