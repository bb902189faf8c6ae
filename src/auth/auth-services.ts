import type { ResourceAccess } from './access.ts';
import type { Authenticator } from './authenticator.ts';
import type { Authorizer } from './authorizer.ts';
import type { StandingLookup } from './identities/standing-identities.ts';
import type { Principal } from './principal.ts';

/** Verifies a bearer token and turns it into a principal carrying the token's grants. */
export interface TokenVerifier {
  /** Throws TokenError when the token is malformed, unsigned, tampered, expired or not for us. */
  verify(token: string): Promise<Principal>;
}

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Failed-login accounting: lockout per account and per source address. */
export interface LoginLimiter {
  /** Seconds until the account or address may try again, or 0 when it may try now. */
  retryAfter(account: string, address: string): Promise<number>;
  recordFailure(account: string, address: string): Promise<void>;
  recordSuccess(account: string, address: string): Promise<void>;
}

/** How the registry challenges clients that must authenticate. */
export type Challenge =
  | { scheme: 'none' }
  | { scheme: 'basic'; realm: string }
  | { scheme: 'bearer'; realm: string; service: string };

/** Everything the HTTP layer needs to authenticate and authorize a request. */
export interface AuthServices {
  /** False when no authentication is configured at all: every request may do everything. */
  enabled: boolean;
  /** Username/password authenticators, in order. */
  chain: readonly Authenticator[];
  /** Whether Basic credentials are accepted on /v2/ and /api/ (auth.basic.enabled). */
  basic: boolean;
  authorizer: Authorizer;
  /** Verifies bearer tokens (ours, or an external issuer's in token consumer mode). */
  tokens: TokenVerifier | undefined;
  limiter: LoginLimiter;
  challenge: Challenge;
  /** Subject of a verified TLS client certificate → principal (mTLS), when configured. */
  certificatePrincipal?: (subjectCommonName: string) => Promise<Principal | undefined>;
  /** Accounts as they stand now, for web UI sessions (which end when the account does). */
  standing?: StandingLookup;
  /**
   * Runs before a push is authorized: in projects mode it refuses a repository whose project does
   * not exist (404 NAME_UNKNOWN naming the project), or creates it when auto-creation is on.
   */
  preparePush?: (principal: Principal, repository: string) => Promise<void>;
}

export type { Authenticator, Authorizer, Principal, ResourceAccess };
