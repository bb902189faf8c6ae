import { createPublicKey, type JsonWebKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { errors, type JWTPayload, jwtVerify, type ProtectedHeaderParameters } from 'jose';
import type { AuthConfig } from '../../config/config.ts';
import { TokenError, type TokenVerifier } from '../auth-services.ts';
import type { Principal } from '../principal.ts';
import { parseAccessClaim } from './access-claim.ts';
import { verifyCertificateChain } from './certificate-chain.ts';
import type { SigningKey } from './signing-key.ts';
import { keysOfCertificates, loadJwks, loadRootCertificates, TrustMaterialError } from './trust-material.ts';

/** Distribution's allowance for clock skew on `exp` and `nbf`. */
export const clockLeewaySeconds = 60;

/**
 * The algorithms accepted unless `auth.token.signingalgorithms` narrows them: Distribution's
 * defaults without the HMAC ones, since every key here is a public key.
 */
export const asymmetricAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

export interface JwtTokenVerifierOptions {
  /** The only `iss` accepted. */
  issuer: string;
  /** The `aud` a token must name: this registry's service name. */
  audience: string;
  /** Trusted public keys by the `kid` tokens name them with. */
  keys: ReadonlyMap<string, KeyObject>;
  /** Roots that an `x5c` chain must lead to. */
  roots: readonly X509Certificate[];
  algorithms: readonly string[];
  /** A `typ` header the token must carry (our own tokens: `JWT`). */
  type?: string;
  now?: () => number;
}

/**
 * Verifies Docker registry bearer tokens as Distribution's token access controller does: the key is
 * found from the `x5c` chain (verified up to a root), an embedded `jwk` that is a trusted key, or
 * the `kid`; then the signature, `iss`, `aud`, `exp` and `nbf` (60 s leeway) are checked. The
 * principal carries the `access` claim as its grants, which are the whole truth about what it may do.
 */
export class JwtTokenVerifier implements TokenVerifier {
  constructor(private readonly options: JwtTokenVerifierOptions) {}

  /** Tokens of the built-in token service, signed by its own key. */
  static forIssuer(
    key: SigningKey,
    options: { issuer: string; service: string; now?: () => number },
  ): JwtTokenVerifier {
    return new JwtTokenVerifier({
      issuer: options.issuer,
      audience: options.service,
      keys: new Map([[key.keyId, key.publicKey]]),
      roots: [],
      algorithms: [key.algorithm],
      type: 'JWT',
      now: options.now,
    });
  }

  /** Token consumer mode (`auth.token`): tokens of an external issuer, trusted by certificate bundle and/or JWKS. */
  static async fromConfig(
    config: NonNullable<AuthConfig['token']>,
    options: { now?: () => number } = {},
  ): Promise<JwtTokenVerifier> {
    const roots = config.rootcertbundle ? await loadRootCertificates(config.rootcertbundle) : [];
    const keys = new Map(await keysOfCertificates(roots));
    if (config.jwks) for (const [id, key] of await loadJwks(config.jwks)) keys.set(id, key);
    if (keys.size === 0) {
      throw new TrustMaterialError(
        'auth.token: at least one token signing key is required (certificates in rootcertbundle or keys in jwks)',
      );
    }
    return new JwtTokenVerifier({
      issuer: config.issuer,
      audience: config.service,
      keys,
      roots,
      algorithms: acceptedAlgorithms(config.signingalgorithms),
      now: options.now,
    });
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.signingKey(header), {
        algorithms: [...this.options.algorithms],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: clockLeewaySeconds,
        requiredClaims: ['exp'],
        typ: this.options.type,
        currentDate: this.options.now ? new Date(this.options.now()) : undefined,
      }));
    } catch (error) {
      throw describeFailure(error);
    }
    if (payload.sub !== undefined && typeof payload.sub !== 'string') throw new TokenError('sub claim is not a string');
    return {
      name: payload.sub ?? '',
      source: 'token',
      groups: [],
      admin: false,
      grants: parseAccessClaim(payload.access),
    };
  }

  private signingKey(header: ProtectedHeaderParameters): KeyObject {
    if (header.x5c !== undefined) return verifyCertificateChain(header.x5c, this.options.roots, this.currentDate());
    if (header.jwk !== undefined) return this.embeddedKey(header.jwk);
    if (typeof header.kid === 'string' && header.kid !== '') {
      const key = this.options.keys.get(header.kid);
      if (!key)
        throw new TokenError(`token signed by an untrusted key (kid ${JSON.stringify(header.kid.slice(0, 100))})`);
      return key;
    }
    throw new TokenError('token names no signing key (no x5c, jwk or kid header)');
  }

  /** An embedded `jwk` is only believed when it is a trusted key, or carries a chain to a trusted root. */
  private embeddedKey(jwk: unknown): KeyObject {
    let embedded: KeyObject;
    try {
      embedded = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      throw new TokenError('jwk header is not a public key');
    }
    const x5c = (jwk as { x5c?: unknown }).x5c;
    const trusted =
      x5c !== undefined
        ? verifyCertificateChain(x5c, this.options.roots, this.currentDate())
        : [...this.options.keys.values()].find((key) => key.equals(embedded));
    if (!trusted?.equals(embedded)) throw new TokenError('jwk header is not a trusted key');
    return trusted;
  }

  private currentDate(): Date {
    return new Date(this.options.now ? this.options.now() : Date.now());
  }
}

/** `auth.token.signingalgorithms` checked: shared-secret and unsigned algorithms are refused outright. */
export function acceptedAlgorithms(configured: readonly string[] | undefined): string[] {
  if (configured === undefined || configured.length === 0) return [...asymmetricAlgorithms];
  for (const algorithm of configured) {
    if (/^HS\d+$/.test(algorithm)) {
      throw new TrustMaterialError(
        `auth.token.signingalgorithms: ${algorithm} signs with a shared secret; token keys must be public keys`,
      );
    }
    if (!(asymmetricAlgorithms as readonly string[]).includes(algorithm)) {
      throw new TrustMaterialError(
        `auth.token.signingalgorithms: unsupported algorithm ${JSON.stringify(algorithm)} (supported: ${asymmetricAlgorithms.join(', ')})`,
      );
    }
  }
  return [...new Set(configured)];
}

function describeFailure(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired) return new TokenError('token expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return new TokenError('token not valid yet');
      case 'iss':
        return new TokenError('token from an untrusted issuer');
      case 'aud':
        return new TokenError('token intended for another audience');
      case 'typ':
        return new TokenError('not an access token');
      default:
        return new TokenError(`invalid ${error.claim} claim`);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenError('token signing algorithm not accepted');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new TokenError('token signature is invalid');
  if (error instanceof errors.JOSEError) return new TokenError('malformed token');
  // jose throws TypeError when the key does not fit the algorithm (an RSA key for ES256, …).
  if (error instanceof TypeError) return new TokenError('token signing key does not match its algorithm');
  return new TokenError('malformed token');
}
