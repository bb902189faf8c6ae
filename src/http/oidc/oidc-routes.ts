import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { generateCliSecret } from '../../auth/oidc/cli-secret.ts';
import type { CliSecretStore } from '../../auth/oidc/cli-secret-store.ts';
import type { OidcClient } from '../../auth/oidc/oidc-client.ts';
import { OidcLoginError } from '../../auth/oidc/oidc-login-error.ts';
import { noteLoginAttempt } from '../auth/login-attempt.ts';
import {
  clearLoginStateCookie,
  loginStateCookieName,
  loginStateSetCookie,
  readCookie,
  signLoginState,
  verifyLoginState,
} from './login-state-cookie.ts';
import { cliSecretPage, errorPage } from './oidc-pages.ts';

export interface OidcRouteDependencies {
  client: OidcClient;
  store: CliSecretStore;
  /** Signs the login state cookie (deriveLoginStateKey(http.secret)); all instances must share it. */
  cookieKey: Buffer;
  /**
   * The callback URL registered at the identity provider (`auth.oidc.redirecturl`, else
   * `<http.host>/oidc/callback`); derived from the request's own URL when unset.
   */
  redirectUrl?: string;
  /** The registry's host for the `docker login` line; the request's Host when unset. */
  registryHost?: string;
}

export const oidcLoginPath = '/oidc/login';
export const oidcCallbackPath = '/oidc/callback';

/**
 * The callback URL and registry host from the config: `auth.oidc.redirecturl`, else
 * `<http.host>/oidc/callback`; both undefined when neither is set (then taken from each request).
 */
export function oidcUrlsFrom(config: { redirecturl?: string }, externalUrl: string | undefined) {
  const base = externalUrl === undefined ? undefined : new URL(externalUrl);
  const redirectUrl = config.redirecturl ?? (base === undefined ? undefined : new URL(oidcCallbackPath, base).href);
  return { redirectUrl, registryHost: base?.host };
}

/**
 * The browser sign-in: `/oidc/login` sends the user to the identity provider with the state,
 * nonce and PKCE verifier in a signed cookie; `/oidc/callback` checks them, exchanges the code,
 * onboards the user and shows a new CLI secret for `docker login`. No server-side session.
 */
export function registerOidcRoutes(app: FastifyInstance, deps: OidcRouteDependencies): void {
  app.get(oidcLoginPath, async (request, reply) => {
    try {
      const redirectUri = deps.redirectUrl ?? `${request.protocol}://${request.host}${oidcCallbackPath}`;
      const { authorizationUrl, pending } = await deps.client.beginLogin(redirectUri);
      const callback = new URL(redirectUri);
      return noStore(reply)
        .header(
          'Set-Cookie',
          loginStateSetCookie(signLoginState(pending, deps.cookieKey), callback.pathname, secure(callback)),
        )
        .redirect(authorizationUrl.href, 302);
    } catch (error) {
      return failed(request, reply, error);
    }
  });

  app.get(oidcCallbackPath, async (request, reply) => {
    const pending = verifyLoginState(readCookie(request.headers.cookie, loginStateCookieName), deps.cookieKey);
    if (pending === undefined) {
      return failed(
        request,
        reply,
        new OidcLoginError(400, 'The sign-in session is missing, expired or altered. Start the sign-in again.'),
      );
    }
    const callback = new URL(pending.redirectUri);
    // The state is single-use: the cookie goes whatever happens next.
    reply.header('Set-Cookie', clearLoginStateCookie(callback.pathname, secure(callback)));
    try {
      const identity = await deps.client.completeLogin(new URL(request.url, callback).searchParams, pending);
      const secret = generateCliSecret();
      const username = await deps.store.recordLogin(identity, secret);
      request.log.info({ 'auth.user.name': username, 'auth.source': 'oidc' }, 'oidc sign-in succeeded');
      noteLoginAttempt(request, { outcome: 'success', username, method: 'oidc', source: 'oidc' });
      const registryHost = deps.registryHost ?? request.host;
      return noStore(reply).type('text/html; charset=utf-8').send(cliSecretPage({ username, secret, registryHost }));
    } catch (error) {
      return failed(request, reply, error);
    }
  });
}

function secure(url: URL): boolean {
  return url.protocol === 'https:';
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.headers({
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  });
}

/** Sends the error page; returned by async handlers, as Fastify wants of a reply sent by hand. */
function failed(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const known = error instanceof OidcLoginError;
  const status = known ? error.status : 500;
  const message = known ? error.message : 'The sign-in failed; the server log has the details.';
  if (request.url.startsWith(oidcCallbackPath)) {
    noteLoginAttempt(request, { outcome: 'failure', username: '', method: 'oidc', reason: 'oidc_error' });
  }
  if (status >= 500) request.log.error({ err: error }, 'oidc sign-in failed');
  else request.log.warn({ err: error }, 'oidc sign-in refused');
  return noStore(reply).code(status).type('text/html; charset=utf-8').send(errorPage('Sign-in failed', message));
}
