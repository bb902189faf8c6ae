import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ResourceAccess } from '../access.ts';
import type { Principal } from '../principal.ts';
import type { SigningKey } from './signing-key.ts';

export interface IssuedToken {
  token: string;
  /** Lifetime in seconds, the `expires_in` of the token response. */
  expiresIn: number;
  issuedAt: Date;
}

export interface TokenIssuerOptions {
  /** `auth.tokenservice.issuer`: the `iss` claim every verifier is configured to trust. */
  issuer: string;
  /** `auth.tokenservice.expiration` in milliseconds. */
  lifetimeMs: number;
  /** Base64 DER certificates of the signing key, leaf first, sent as `x5c` when set. */
  certificateChain?: readonly string[];
  now?: () => number;
}

/**
 * Signs Docker registry bearer tokens as Distribution's token specification describes them: a JWT
 * with `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti` and the granted `access` list. What goes into
 * `access` is decided by the caller (the authorizer's intersection), never here.
 */
export class TokenIssuer {
  readonly issuer: string;
  private readonly lifetimeSeconds: number;
  private readonly now: () => number;

  constructor(
    readonly key: SigningKey,
    private readonly options: TokenIssuerOptions,
  ) {
    this.issuer = options.issuer;
    this.lifetimeSeconds = Math.max(1, Math.floor(options.lifetimeMs / 1000));
    this.now = options.now ?? Date.now;
  }

  async issue(
    principal: Principal,
    access: readonly ResourceAccess[],
    context: { service: string; clientId?: string },
  ): Promise<IssuedToken> {
    const issuedAt = Math.floor(this.now() / 1000);
    const claims: Record<string, unknown> = {
      access: access.map((entry) => ({ type: entry.type, name: entry.name, actions: [...entry.actions] })),
    };
    if (context.clientId !== undefined && context.clientId !== '') claims.client_id = context.clientId;
    const header: { alg: string; typ: string; kid: string; x5c?: string[] } = {
      alg: this.key.algorithm,
      typ: 'JWT',
      kid: this.key.keyId,
    };
    if (this.options.certificateChain && this.options.certificateChain.length > 0) {
      header.x5c = [...this.options.certificateChain];
    }
    const token = await new SignJWT(claims)
      .setProtectedHeader(header)
      .setIssuer(this.issuer)
      .setSubject(principal.source === 'anonymous' ? '' : principal.name)
      .setAudience(context.service)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + this.lifetimeSeconds)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.key.privateKey);
    return { token, expiresIn: this.lifetimeSeconds, issuedAt: new Date(issuedAt * 1000) };
  }
}
