import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { TokenError } from '../auth-services.ts';
import type { Principal } from '../principal.ts';
import type { SigningKey } from './signing-key.ts';

/** The JWT `typ` of refresh tokens: an access-token verifier expecting `JWT` never accepts one. */
export const refreshTokenType = 'wharf-refresh+jwt';

export interface RefreshTokenOptions {
  issuer: string;
  /** `auth.tokenservice.refreshexpiration` in milliseconds. */
  lifetimeMs: number;
  /**
   * The account as it is now, or undefined when it no longer exists or may no longer log in. Asked
   * on every use, so deleting or disabling an account ends its refresh tokens.
   */
  revalidate: (name: string) => Promise<Principal | undefined>;
  now?: () => number;
}

/**
 * Refresh tokens for `offline_token=true` (GET) and `access_type=offline` (POST): what `docker
 * login` stores instead of the password. They are signed JWTs, not database rows, so any instance
 * can redeem them and nothing needs cleaning up; they name the account and the client they were
 * given to, carry no access (each use asks the authorizer again) and expire after `lifetimeMs`.
 */
export class RefreshTokens {
  private readonly audience: string;
  private readonly now: () => number;

  constructor(
    private readonly key: SigningKey,
    private readonly options: RefreshTokenOptions,
  ) {
    // Distinct from any registry's service name, so a refresh token is never an access token.
    this.audience = `${options.issuer}#refresh`;
    this.now = options.now ?? Date.now;
  }

  async issue(principal: Principal, clientId: string | undefined): Promise<string> {
    if (principal.source === 'anonymous') throw new TokenError('anonymous callers get no refresh token');
    const issuedAt = Math.floor(this.now() / 1000);
    return new SignJWT({ client_id: clientId ?? '' })
      .setProtectedHeader({ alg: this.key.algorithm, typ: refreshTokenType, kid: this.key.keyId })
      .setIssuer(this.options.issuer)
      .setSubject(principal.name)
      .setAudience(this.audience)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + Math.max(1, Math.floor(this.options.lifetimeMs / 1000)))
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.key.privateKey);
  }

  /** The account a refresh token stands for, checked again now. Throws TokenError otherwise. */
  async redeem(token: string, clientId: string | undefined): Promise<Principal> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [this.key.algorithm],
        typ: refreshTokenType,
        issuer: this.options.issuer,
        audience: this.audience,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new TokenError('refresh token expired');
      if (error instanceof errors.JOSEError) throw new TokenError('invalid refresh token');
      throw error;
    }
    if ((payload.client_id ?? '') !== (clientId ?? '')) {
      throw new TokenError('refresh token was issued to another client_id');
    }
    const name = payload.sub;
    if (typeof name !== 'string' || name === '') throw new TokenError('invalid refresh token');
    const principal = await this.options.revalidate(name);
    if (!principal) throw new TokenError('the account of this refresh token no longer exists or is disabled');
    return principal;
  }
}
