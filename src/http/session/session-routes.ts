import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authenticateWithChain } from '../../auth/authenticator.ts';
import { isAnonymous, type Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import { apiPrefix } from '../api/management-context.ts';
import type { AccessControl } from '../auth/access-control.ts';
import { noteLoginAttempt } from '../auth/login-attempt.ts';
import { readLimitedBody } from '../v2/request-body.ts';
import { csrfHeader } from './csrf.ts';
import { clearSessionCookie, type SessionCookies, sessionSetCookie } from './session-cookie.ts';
import { SessionEndedError } from './session-ended-error.ts';

export interface SessionRouteOptions {
  access: AccessControl;
  /** Absent when authentication is off: there is nobody to sign in as. */
  sessions: SessionCookies | undefined;
  /** Whether the management API (projects mode) is mounted, so the UI knows what to ask. */
  projects: boolean;
  /** `storage.delete.enabled`: the UI offers deletes only when they can work. */
  deleteEnabled: boolean;
}

const credentialsSchema = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
});

export const sessionPath = `${apiPrefix}/session`;

/**
 * The web UI's sign-in: `GET` tells who the caller is and what the registry offers, `POST` checks a
 * user name and password like any login (lockout, audit log, metrics) and sets the session cookie,
 * `DELETE` clears it. docs/ui.md describes them.
 */
export function registerSessionRoutes(app: FastifyInstance, options: SessionRouteOptions): void {
  const { access } = options;
  const describe = (principal: Principal | undefined) => ({
    auth_enabled: access.auth.enabled,
    projects: options.projects,
    delete_enabled: options.deleteEnabled,
    user: principal && !isAnonymous(principal) ? { name: principal.name, admin: principal.admin } : null,
  });

  app.get(sessionPath, async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    // An ended session is simply no session here, so the UI offers to sign in again.
    const principal = await access.identify(request).catch((error: unknown) => {
      if (!(error instanceof SessionEndedError)) throw error;
      reply.headers(error.headers);
      return undefined;
    });
    return describe(principal);
  });

  app.post(sessionPath, async (request, reply) => {
    requireCsrfHeader(request);
    const sessions = access.sessions;
    if (!options.sessions || !sessions) {
      throw new RegistryError('UNSUPPORTED', 'authentication is off: there is nothing to sign in to');
    }
    const credentials = await readCredentials(request);
    const principal = await signIn(request, access, credentials.username, credentials.password);
    const cookie = await sessions.issue(principal);
    if (cookie === undefined) throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
    reply.header('Set-Cookie', sessionSetCookie(cookie, request.protocol === 'https'));
    reply.header('Cache-Control', 'no-store');
    return describe(principal);
  });

  app.delete(sessionPath, async (request, reply: FastifyReply) => {
    requireCsrfHeader(request);
    request.raw.resume();
    // Only to name who signed out in the audit log: signing out needs no valid credentials.
    await access.identify(request).catch(() => undefined);
    reply.header('Set-Cookie', clearSessionCookie(request.protocol === 'https'));
    return reply.code(204).send();
  });
}

/** Without the header a signed-out page of another site could sign the browser in as someone else. */
function requireCsrfHeader(request: FastifyRequest): void {
  if (request.headers[csrfHeader] === undefined) {
    request.raw.resume();
    throw new RegistryError('DENIED', `this request must carry the ${csrfHeader} header`);
  }
}

async function readCredentials(request: FastifyRequest): Promise<z.output<typeof credentialsSchema>> {
  const type = request.headers['content-type'];
  if (type === undefined || !/^application\/json\s*(?:;|$)/i.test(type)) {
    request.raw.resume();
    throw new RegistryError('UNSUPPORTED', 'the request body must be application/json', { status: 415 });
  }
  const bytes = await readLimitedBody(request.raw, 4096, 'request body');
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryError('UNSUPPORTED', 'the request body is not valid JSON', { status: 400 });
  }
  const parsed = credentialsSchema.safeParse(body);
  if (!parsed.success) {
    throw new RegistryError('UNSUPPORTED', 'the request body must be {"username", "password"}', { status: 400 });
  }
  return parsed.data;
}

/** The same checks and accounting as a Basic login on /v2/: lockout first, then the authenticator chain. */
async function signIn(
  request: FastifyRequest,
  access: AccessControl,
  username: string,
  password: string,
): Promise<Principal> {
  const { limiter, chain } = access.auth;
  const address = request.ip;
  const wait = await limiter.retryAfter(username, address);
  if (wait > 0) {
    request.log.warn({ 'auth.user.name': username }, 'login refused: locked out');
    noteLoginAttempt(request, { outcome: 'failure', username, method: 'password', reason: 'locked_out' });
    throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; retry in ${wait} s`, {
      headers: { 'Retry-After': String(wait) },
    });
  }
  const result = await authenticateWithChain(chain, username, password, { remoteAddress: address });
  if (result.outcome !== 'authenticated') {
    await limiter.recordFailure(username, address);
    request.log.warn(
      { 'auth.user.name': username, reason: result.outcome === 'rejected' ? result.reason : 'unknown' },
      'login failed',
    );
    noteLoginAttempt(request, { outcome: 'failure', username, method: 'password', reason: 'invalid_credentials' });
    // No WWW-Authenticate: a browser would answer it with its own password dialog.
    throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
  }
  await limiter.recordSuccess(username, address);
  request.log.info({ 'auth.user.name': username, 'auth.source': result.principal.source }, 'login succeeded');
  noteLoginAttempt(request, { outcome: 'success', username, method: 'password', source: result.principal.source });
  return result.principal;
}
