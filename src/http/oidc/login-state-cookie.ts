import { hkdfSync } from 'node:crypto';
import type { PendingLogin } from '../../auth/oidc/oidc-client.ts';
import { openSealedValue, sealValue } from '../signed-value.ts';

export const loginStateCookieName = 'wharf_oidc_login';

/** Long enough to type a password and pass a second factor, short enough to make replay useless. */
export const loginStateLifetimeSeconds = 600;

/**
 * The key that signs login state cookies, derived from `http.secret` so every instance sharing
 * the secret accepts the others' cookies, and a leaked cookie key reveals nothing of the secret.
 */
export function deriveLoginStateKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'wharf', 'oidc login state cookie', 32));
}

interface CookiePayload extends PendingLogin {
  /** Epoch milliseconds after which the cookie is refused. */
  expiresAt: number;
}

/** `base64url(JSON).base64url(HMAC-SHA256)`: readable by nobody but the server that checks it is intact. */
export function signLoginState(pending: PendingLogin, key: Buffer, now = Date.now()): string {
  const payload: CookiePayload = { ...pending, expiresAt: now + loginStateLifetimeSeconds * 1000 };
  return sealValue(payload, key);
}

/** The pending login, or undefined when the value is missing, altered, expired or malformed. */
export function verifyLoginState(value: string | undefined, key: Buffer, now = Date.now()): PendingLogin | undefined {
  if (value === undefined) return undefined;
  const payload = openSealedValue(value, key);
  if (!isPayload(payload) || payload.expiresAt <= now) return undefined;
  const { state, nonce, codeVerifier, redirectUri } = payload;
  return { state, nonce, codeVerifier, redirectUri };
}

function isPayload(value: unknown): value is CookiePayload {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.state === 'string' &&
    typeof record.nonce === 'string' &&
    typeof record.codeVerifier === 'string' &&
    typeof record.redirectUri === 'string' &&
    typeof record.expiresAt === 'number'
  );
}

/** One cookie's value from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals < 0) continue;
    if (pair.slice(0, equals).trim() === name) return pair.slice(equals + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for the login state: only the callback path gets it, never a script or another site's POST. */
export function loginStateSetCookie(value: string, callbackPath: string, secure: boolean): string {
  return cookie(value, callbackPath, secure, loginStateLifetimeSeconds);
}

export function clearLoginStateCookie(callbackPath: string, secure: boolean): string {
  return cookie('', callbackPath, secure, 0);
}

function cookie(value: string, path: string, secure: boolean, maxAge: number): string {
  const attributes = [
    `${loginStateCookieName}=${value}`,
    `Path=${path}`,
    `Max-Age=${maxAge}`,
    'HttpOnly',
    'SameSite=Lax',
  ];
  if (secure) attributes.push('Secure');
  return attributes.join('; ');
}
