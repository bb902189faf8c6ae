import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { covers, formatScope, parseScopes, type ResourceAccess } from '../../auth/access.ts';
import { type LoginLimiter, TokenError } from '../../auth/auth-services.ts';
import { type Authenticator, authenticateWithChain } from '../../auth/authenticator.ts';
import type { Authorizer } from '../../auth/authorizer.ts';
import { anonymous, type Principal } from '../../auth/principal.ts';
import type { RefreshTokens } from '../../auth/token/refresh-tokens.ts';
import { publicJwks } from '../../auth/token/signing-key.ts';
import type { TokenIssuer } from '../../auth/token/token-issuer.ts';
import { RegistryError } from '../../oci/errors.ts';
import { noteLoginAttempt } from '../auth/login-attempt.ts';
import { readLimitedBody } from '../v2/request-body.ts';

export const tokenPath = '/service/token';
export const jwksPath = '/service/jwks.json';

/** A token request form is a few short fields; anything bigger is not one. */
const maxFormBytes = 64 * 1024;

export interface TokenServiceDependencies {
  /** Username/password authenticators, asked in order. */
  chain: readonly Authenticator[];
  /** Decides the granted subset of what is asked. */
  authorizer: Authorizer;
  limiter: LoginLimiter;
  issuer: TokenIssuer;
  refreshTokens: RefreshTokens;
  /** This registry's service name: the only `service` accepted, and the tokens' audience. */
  service: string;
}

interface TokenGrant {
  principal: Principal;
  requested: ResourceAccess[];
  clientId: string | undefined;
  /** A refresh token to hand out with the access token, if any. */
  refreshToken?: string;
}

/**
 * Docker's token service: `GET /service/token` (Basic credentials or none, as `docker login`/`pull`
 * use it) and `POST /service/token` (the OAuth2 password and refresh_token grants), plus the
 * signing keys as a JWKS for anyone who verifies these tokens elsewhere.
 */
export function registerTokenRoutes(app: FastifyInstance, deps: TokenServiceDependencies): void {
  const jwks = publicJwks([deps.issuer.key]);

  app.get(tokenPath, async (request, reply) => {
    const query = new URL(request.url, 'http://localhost').searchParams;
    checkService(query.get('service'), deps.service);
    const clientId = query.get('client_id') ?? undefined;
    const credentials = basicCredentials(request);
    let principal: Principal = anonymous;
    if (credentials) {
      const account = query.get('account');
      if (account !== null && account !== '' && account !== credentials.username) {
        throw badRequest('account does not match the credentials');
      }
      principal = await login(request, deps, credentials.username, credentials.password, 'basic');
    }
    const offline = (query.get('offline_token') ?? '').toLowerCase() === 'true' && credentials !== undefined;
    const grant: TokenGrant = { principal, requested: parseScopes(query.getAll('scope')), clientId };
    if (offline) grant.refreshToken = await deps.refreshTokens.issue(principal, clientId);
    return sendToken(request, reply, deps, grant);
  });

  app.post(tokenPath, async (request, reply) => {
    const form = await readForm(request);
    checkService(form.get('service'), deps.service);
    const clientId = form.get('client_id') ?? undefined;
    const requested = parseScopes(form.getAll('scope'));
    const grantType = form.get('grant_type');
    if (grantType === 'password') {
      const username = form.get('username');
      const password = form.get('password');
      if (!username || password === null) throw badRequest('the password grant needs username and password');
      const principal = await login(request, deps, username, password, 'password');
      const grant: TokenGrant = { principal, requested, clientId };
      if (form.get('access_type') === 'offline')
        grant.refreshToken = await deps.refreshTokens.issue(principal, clientId);
      return sendToken(request, reply, deps, grant);
    }
    if (grantType === 'refresh_token') {
      const refreshToken = form.get('refresh_token');
      if (!refreshToken) throw badRequest('the refresh_token grant needs refresh_token');
      const principal = await redeem(request, deps, refreshToken, clientId);
      const grant: TokenGrant = { principal, requested, clientId };
      // The same refresh token goes back: it is not renewed by use.
      if (form.get('access_type') === 'offline') grant.refreshToken = refreshToken;
      return sendToken(request, reply, deps, grant);
    }
    throw badRequest(`unsupported grant_type ${JSON.stringify((grantType ?? '').slice(0, 40))}`);
  });

  app.get(jwksPath, async (_request, reply) => {
    reply.header('content-type', 'application/jwk-set+json').header('cache-control', 'public, max-age=300');
    return JSON.stringify(await jwks);
  });
}

async function sendToken(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: TokenServiceDependencies,
  grant: TokenGrant,
): Promise<FastifyReply> {
  const allowed = await deps.authorizer.grant(grant.principal, grant.requested);
  const access = withinRequested(allowed, grant.requested);
  const issued = await deps.issuer.issue(grant.principal, access, { service: deps.service, clientId: grant.clientId });
  if (grant.principal.source !== 'anonymous') {
    request.log.info(
      {
        'auth.user.name': grant.principal.name,
        'auth.source': grant.principal.source,
        requested: grant.requested.map(formatScope),
        granted: access.map(formatScope),
      },
      'token issued',
    );
  }
  const body: Record<string, string | number> = {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    scope: access.map(formatScope).join(' '),
  };
  if (grant.refreshToken !== undefined) body.refresh_token = grant.refreshToken;
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .send(JSON.stringify(body));
}

/**
 * What is asked, cut down to what the authorizer allowed: a token never carries a resource or an
 * action that was not requested, whatever the authorizer returned (`*` included).
 */
export function withinRequested(
  allowed: readonly ResourceAccess[],
  requested: readonly ResourceAccess[],
): ResourceAccess[] {
  return requested
    .map((entry) => ({
      type: entry.type,
      name: entry.name,
      actions: entry.actions.filter((action) =>
        covers(allowed, { type: entry.type, name: entry.name, actions: [action] }),
      ),
    }))
    .filter((entry) => entry.actions.length > 0);
}

/** Username and password through the authenticator chain, under the failed-login lockout. */
async function login(
  request: FastifyRequest,
  deps: TokenServiceDependencies,
  username: string,
  password: string,
  method: 'basic' | 'password',
): Promise<Principal> {
  const address = request.ip;
  const wait = await deps.limiter.retryAfter(username, address);
  if (wait > 0) {
    request.log.warn({ 'auth.user.name': username, 'auth.method': method }, 'login refused: locked out');
    noteLoginAttempt(request, { outcome: 'failure', username, method: tokenMethod(method), reason: 'locked_out' });
    throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; retry in ${wait} s`, {
      headers: { 'Retry-After': String(wait) },
    });
  }
  const result = await authenticateWithChain(deps.chain, username, password, { remoteAddress: address });
  if (result.outcome !== 'authenticated') {
    await deps.limiter.recordFailure(username, address);
    request.log.warn(
      {
        'auth.user.name': username,
        'auth.method': method,
        reason: result.outcome === 'rejected' ? result.reason : 'unknown',
      },
      'login failed',
    );
    noteLoginAttempt(request, {
      outcome: 'failure',
      username,
      method: tokenMethod(method),
      reason: 'invalid_credentials',
    });
    throw unauthorized(deps, 'invalid username or password');
  }
  await deps.limiter.recordSuccess(username, address);
  request.log.info(
    { 'auth.user.name': username, 'auth.method': method, 'auth.source': result.principal.source },
    'login succeeded',
  );
  noteLoginAttempt(request, {
    outcome: 'success',
    username,
    method: tokenMethod(method),
    source: result.principal.source,
  });
  return result.principal;
}

async function redeem(
  request: FastifyRequest,
  deps: TokenServiceDependencies,
  refreshToken: string,
  clientId: string | undefined,
): Promise<Principal> {
  try {
    const principal = await deps.refreshTokens.redeem(refreshToken, clientId);
    request.log.info(
      { 'auth.user.name': principal.name, 'auth.method': 'refresh_token', 'auth.source': principal.source },
      'login succeeded',
    );
    noteLoginAttempt(request, {
      outcome: 'success',
      username: principal.name,
      method: 'refresh_token',
      source: principal.source,
    });
    return principal;
  } catch (error) {
    if (!(error instanceof TokenError)) throw error;
    request.log.warn({ 'auth.method': 'refresh_token', reason: error.message }, 'login failed');
    noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'refresh_token', reason: 'invalid_token' });
    throw unauthorized(deps, error.message);
  }
}

/** Basic credentials sent to GET /service/token are a `token` login; the form's are a `password` one. */
function tokenMethod(method: 'basic' | 'password'): 'token' | 'password' {
  return method === 'basic' ? 'token' : 'password';
}

function basicCredentials(request: FastifyRequest): { username: string; password: string } | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  if (scheme !== 'basic') {
    noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'token', reason: 'unsupported_scheme' });
    throw new RegistryError('UNAUTHORIZED', 'the token service accepts Basic credentials only');
  }
  const decoded = Buffer.from(header.slice(space + 1).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) {
    noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'token', reason: 'malformed_credentials' });
    throw new RegistryError('UNAUTHORIZED', 'malformed Basic credentials');
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readForm(request: FastifyRequest): Promise<URLSearchParams> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    request.raw.resume();
    throw new RegistryError('UNSUPPORTED', 'a token request body must be application/x-www-form-urlencoded', {
      status: 415,
    });
  }
  const body = await readLimitedBody(request.raw, maxFormBytes, 'token request');
  return new URLSearchParams(body.toString('utf8'));
}

/** Tokens are only made for this registry; a client asking for another service has the wrong realm. */
function checkService(requested: string | null, service: string): void {
  if (requested === null || requested === '' || requested === service) return;
  throw badRequest(
    `unknown service ${JSON.stringify(requested.slice(0, 200))}; this token service serves "${service}"`,
  );
}

function badRequest(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { status: 400 });
}

function unauthorized(deps: TokenServiceDependencies, message: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, {
    headers: { 'WWW-Authenticate': `Basic realm="${deps.service.replace(/["\\]/g, '')}"` },
  });
}
