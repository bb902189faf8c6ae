import type { FastifyRequest } from 'fastify';
import { covers, formatScope, type ResourceAccess } from '../../auth/access.ts';
import { type AuthServices, TokenError } from '../../auth/auth-services.ts';
import { authenticateWithChain } from '../../auth/authenticator.ts';
import { anonymous, isAnonymous, type Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import { readCookie } from '../oidc/login-state-cookie.ts';
import { changesState, csrfHeader } from '../session/csrf.ts';
import { type SessionCookies, sessionCookieName } from '../session/session-cookie.ts';
import { SessionEndedError } from '../session/session-ended-error.ts';
import { SessionPrincipals } from '../session/session-principals.ts';
import { verifiedClientCertificate } from '../tls/client-certificate.ts';
import { CredentialsCache } from './credentials-cache.ts';
import { noteLoginAttempt } from './login-attempt.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, once identified. */
    principal?: Principal;
  }
}

/** Who is calling and whether they may: the HTTP side of authentication and authorization. */
export class AccessControl {
  private readonly cache = new CredentialsCache();
  /** The web UI's sign-ins, resolved to the account as it stands now. */
  readonly sessions: SessionPrincipals | undefined;

  /** `cookies`: the web UI's sign-in cookies, accepted when given. */
  constructor(
    readonly auth: AuthServices,
    private readonly cookies?: SessionCookies,
  ) {
    this.sessions = cookies && new SessionPrincipals(cookies, auth.standing ?? (async () => undefined));
  }

  /**
   * The caller: from a Bearer token, Basic credentials or a verified client certificate, else
   * anonymous. Bad credentials are a 401 (429 while locked out), never a silent fallback to
   * anonymous.
   */
  async identify(request: FastifyRequest): Promise<Principal> {
    if (request.principal) return request.principal;
    const principal = await this.identifyUncached(request);
    request.principal = principal;
    if (request.requestContext) request.requestContext.actor = { name: principal.name, kind: principal.source };
    if (!isAnonymous(principal)) request.log.debug({ 'auth.user.name': principal.name }, 'authenticated');
    return principal;
  }

  /**
   * Checks that the caller holds every access in `required`; otherwise 401 with a challenge for an
   * anonymous caller or a token lacking scope, 403 DENIED for a known caller who is not allowed.
   */
  async authorize(request: FastifyRequest, principal: Principal, required: readonly ResourceAccess[]): Promise<void> {
    if (!this.auth.enabled) return;
    if (isAnonymous(principal) && required.length === 0) {
      throw this.unauthorized('authentication required', required, undefined, request);
    }
    if (required.length === 0) return;
    const granted = await this.auth.authorizer.grant(principal, required);
    const missing = required.filter((wanted) => !covers(granted, wanted));
    if (missing.length === 0) return;
    if (isAnonymous(principal)) throw this.unauthorized('authentication required', required, undefined, request);
    if (principal.grants !== undefined)
      throw this.unauthorized('insufficient scope', required, 'insufficient_scope', request);
    request.log.info({ 'auth.user.name': principal.name, missing: missing.map(formatScope) }, 'access denied');
    throw new RegistryError(
      'DENIED',
      `requested access to the resource is denied: ${missing.map(formatScope).join(' ')}`,
    );
  }

  /** Forgets remembered logins of this name, after its credentials or rights changed. */
  forget(name: string): void {
    this.cache.forget(name);
    this.sessions?.forget(name);
  }

  /**
   * Whether the caller may pull at least one of these repositories (the source of a mount). A
   * token must itself grant that pull, as Distribution requires pull on `from` in the token: its
   * subject's other rights are not the token's.
   */
  async mayPullAny(principal: Principal, repositories: readonly string[]): Promise<boolean> {
    if (!this.auth.enabled) return repositories.length > 0;
    const grants = principal.grants;
    const candidates =
      grants === undefined
        ? repositories
        : repositories.filter((name) => covers(grants, { type: 'repository', name, actions: ['pull'] }));
    if (candidates.length === 0) return false;
    const pullable = await this.auth.authorizer.pullableRepositories(principal, candidates);
    return pullable === undefined || pullable.length > 0;
  }

  /** The repositories the caller may see in the catalog, in order. */
  async filterPullable(principal: Principal, repositories: readonly string[]): Promise<string[]> {
    if (!this.auth.enabled) return [...repositories];
    const pullable = await this.auth.authorizer.pullableRepositories(principal, repositories);
    if (pullable === undefined) return [...repositories];
    const visible = new Set(pullable);
    return repositories.filter((name) => visible.has(name));
  }

  private async identifyUncached(request: FastifyRequest): Promise<Principal> {
    if (!this.auth.enabled) return anonymous;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const space = header.indexOf(' ');
      const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
      const value = space === -1 ? '' : header.slice(space + 1).trim();
      if (scheme === 'bearer') return this.fromToken(request, value);
      if (scheme === 'basic') return this.fromBasic(request, value);
      noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'basic', reason: 'unsupported_scheme' });
      throw this.unauthorized(`unsupported authorization scheme "${scheme.slice(0, 20)}"`, [], undefined, request);
    }
    const claim = this.cookies?.verify(readCookie(request.headers.cookie, sessionCookieName));
    if (claim && this.sessions) {
      // The browser sends the cookie with any request to this origin; only the UI adds the header.
      if (changesState(request.method) && request.headers[csrfHeader] === undefined) {
        throw new RegistryError('DENIED', `a request signed in by cookie must carry the ${csrfHeader} header`);
      }
      const principal = await this.sessions.resolve(claim);
      if (principal) return principal;
      request.log.info({ 'auth.user.name': claim.name, 'auth.source': claim.source }, 'session ended: account changed');
      throw new SessionEndedError(request.protocol === 'https');
    }
    const subject = verifiedClientCertificate(request.raw.socket)?.subjectCommonName;
    if (subject !== undefined && this.auth.certificatePrincipal) {
      const principal = await this.auth.certificatePrincipal(subject);
      if (principal) return principal;
    }
    return anonymous;
  }

  private async fromToken(request: FastifyRequest, token: string): Promise<Principal> {
    if (!this.auth.tokens) throw this.unauthorized('bearer tokens are not accepted here', [], undefined, request);
    try {
      return await this.auth.tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) {
        noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'bearer', reason: 'invalid_token' });
        throw this.unauthorized(`invalid token: ${error.message}`, [], 'invalid_token', request);
      }
      throw error;
    }
  }

  private async fromBasic(request: FastifyRequest, encoded: string): Promise<Principal> {
    if (!this.auth.basic)
      throw this.unauthorized('Basic credentials are not accepted; use a token', [], undefined, request);
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'basic', reason: 'malformed_credentials' });
      throw this.unauthorized('malformed Basic credentials', [], undefined, request);
    }
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const cached = this.cache.get(username, password);
    if (cached) return cached;
    const address = request.ip;
    const wait = await this.auth.limiter.retryAfter(username, address);
    if (wait > 0) {
      request.log.warn({ 'auth.user.name': username }, 'login refused: locked out');
      noteLoginAttempt(request, { outcome: 'failure', username, method: 'basic', reason: 'locked_out' });
      throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; retry in ${wait} s`, {
        headers: { 'Retry-After': String(wait) },
      });
    }
    const result = await authenticateWithChain(this.auth.chain, username, password, { remoteAddress: address });
    if (result.outcome !== 'authenticated') {
      await this.auth.limiter.recordFailure(username, address);
      request.log.warn(
        { 'auth.user.name': username, reason: result.outcome === 'rejected' ? result.reason : 'unknown' },
        'login failed',
      );
      noteLoginAttempt(request, { outcome: 'failure', username, method: 'basic', reason: 'invalid_credentials' });
      throw this.unauthorized('invalid username or password', [], undefined, request);
    }
    await this.auth.limiter.recordSuccess(username, address);
    request.log.info({ 'auth.user.name': username, 'auth.source': result.principal.source }, 'login succeeded');
    noteLoginAttempt(request, { outcome: 'success', username, method: 'basic', source: result.principal.source });
    this.cache.set(username, password, result.principal);
    return result.principal;
  }

  /** 401 with the challenge a client needs to come back with credentials. */
  unauthorized(
    message: string,
    required: readonly ResourceAccess[],
    error?: string,
    request?: FastifyRequest,
  ): RegistryError {
    const challenge = this.auth.challenge;
    const headers: Record<string, string> = {};
    if (challenge.scheme === 'basic') {
      headers['WWW-Authenticate'] = `Basic realm="${quote(challenge.realm)}"`;
    } else if (challenge.scheme === 'bearer') {
      // A realm given as a path is on this registry, at whatever address the client used.
      const realm =
        challenge.realm.startsWith('/') && request
          ? `${request.protocol}://${request.host}${challenge.realm}`
          : challenge.realm;
      const parts = [`realm="${quote(realm)}"`, `service="${quote(challenge.service)}"`];
      const scope = required
        .filter((entry) => entry.actions.length > 0)
        .map(formatScope)
        .join(' ');
      if (scope !== '') parts.push(`scope="${quote(scope)}"`);
      if (error !== undefined) parts.push(`error="${error}"`);
      headers['WWW-Authenticate'] = `Bearer ${parts.join(',')}`;
    }
    return new RegistryError('UNAUTHORIZED', message, {
      headers,
      detail:
        required.length > 0
          ? required.map((entry) => ({ Type: entry.type, Name: entry.name, Action: entry.actions.join(',') }))
          : undefined,
    });
  }
}

function quote(value: string): string {
  return value.replace(/["\\]/g, '');
}
