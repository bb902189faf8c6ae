import { createHmac, hkdfSync } from 'node:crypto';
import type { IdentitySource } from '../../auth/principal.ts';
import { openSealedValue, sealValue } from '../signed-value.ts';

export const sessionCookieName = 'wharf_session';

/** A working day: a stolen cookie is worth little for long, and nobody signs in every hour. */
export const sessionLifetimeSeconds = 8 * 3600;

/** What a sign-in said of an identity source that cannot be asked again without the user's password. */
export interface SessionSnapshot {
  groups: readonly string[];
  admin: boolean;
}

/**
 * What a session cookie proves: who signed in, from which source, and when. What that identity
 * may do is looked up again on each request (session-principals.ts), except for the `snapshot` of
 * a source that cannot be asked (LDAP, OIDC).
 */
export interface SessionClaim {
  name: string;
  source: IdentitySource;
  snapshot?: SessionSnapshot;
  /** A keyed hash of the account's credential at sign-in (see `SessionCookies.fingerprint`). */
  credential?: string;
  /** Epoch milliseconds of the sign-in. */
  issuedAt: number;
}

interface SessionPayload extends SessionClaim {
  /** Epoch milliseconds after which the cookie is refused. */
  expiresAt: number;
}

/** What to sign: `credential` is the raw value the account's source keeps; only its keyed hash is written. */
export interface NewSession {
  name: string;
  source: IdentitySource;
  snapshot?: SessionSnapshot;
  credential?: string;
}

/**
 * The web UI's sign-in, as a cookie the server alone can mint: `base64url(JSON).base64url(HMAC)`
 * over who signed in and until when. The key is derived from `http.secret`, so every instance
 * sharing the secret accepts it and no session state lives on any of them.
 */
export class SessionCookies {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'wharf', 'ui session cookie', 32));
  }

  sign(session: NewSession, now = Date.now()): string {
    const payload: SessionPayload = {
      name: session.name,
      source: session.source,
      ...(session.snapshot ? { snapshot: { groups: session.snapshot.groups, admin: session.snapshot.admin } } : {}),
      ...(session.credential !== undefined ? { credential: this.fingerprint(session.credential) } : {}),
      issuedAt: now,
      expiresAt: now + sessionLifetimeSeconds * 1000,
    };
    return sealValue(payload, this.key);
  }

  /** The claim, or undefined when the value is missing, altered, expired or malformed. */
  verify(value: string | undefined, now = Date.now()): SessionClaim | undefined {
    if (value === undefined || value.length > 8192) return undefined;
    const payload = openSealedValue(value, this.key);
    if (!isPayload(payload) || payload.expiresAt <= now) return undefined;
    const { name, source, snapshot, credential, issuedAt } = payload;
    return {
      name,
      source,
      ...(snapshot ? { snapshot: { groups: snapshot.groups, admin: snapshot.admin } } : {}),
      ...(credential !== undefined ? { credential } : {}),
      issuedAt,
    };
  }

  /**
   * A keyed hash of a stored credential (a password hash, a change time): the cookie binds the
   * session to it without carrying anything an offline guesser could use.
   */
  fingerprint(credential: string): string {
    return createHmac('sha256', this.key).update(`credential\0${credential}`, 'utf8').digest('base64url').slice(0, 22);
  }
}

/** Set-Cookie for a session: never readable by scripts, never sent by another site's request. */
export function sessionSetCookie(value: string, secure: boolean): string {
  return cookie(value, secure, sessionLifetimeSeconds);
}

export function clearSessionCookie(secure: boolean): string {
  return cookie('', secure, 0);
}

function cookie(value: string, secure: boolean, maxAge: number): string {
  const attributes = [`${sessionCookieName}=${value}`, 'Path=/', `Max-Age=${maxAge}`, 'HttpOnly', 'SameSite=Strict'];
  if (secure) attributes.push('Secure');
  return attributes.join('; ');
}

function isPayload(value: unknown): value is SessionPayload {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.name === 'string' &&
    record.name !== '' &&
    typeof record.source === 'string' &&
    (record.snapshot === undefined || isSnapshot(record.snapshot)) &&
    (record.credential === undefined || typeof record.credential === 'string') &&
    typeof record.issuedAt === 'number' &&
    typeof record.expiresAt === 'number'
  );
}

function isSnapshot(value: unknown): value is SessionSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    Array.isArray(record.groups) &&
    record.groups.every((group) => typeof group === 'string') &&
    typeof record.admin === 'boolean'
  );
}
