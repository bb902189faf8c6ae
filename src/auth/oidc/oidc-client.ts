import * as openid from 'openid-client';
import type { AuthConfig } from '../../config/config.ts';
import { identityFromClaims } from './oidc-claims.ts';
import type { OidcIdentity } from './oidc-identity.ts';
import { OidcLoginError } from './oidc-login-error.ts';

export type OidcConfig = NonNullable<AuthConfig['oidc']>;

/** What the browser carries between the redirect to the provider and the callback. */
export interface PendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** The callback URL sent to the provider; the token request must repeat it exactly. */
  redirectUri: string;
}

export interface OidcClientOptions {
  /** Seconds for each request to the identity provider. */
  timeoutSeconds?: number;
}

/**
 * The relying party of the authorization code flow with PKCE, state and nonce. The provider's
 * metadata is discovered at the first sign-in (and again after a failed discovery), so Wharf
 * starts while the identity provider is down.
 */
export class OidcClient {
  private configuration: Promise<openid.Configuration> | undefined;

  constructor(
    private readonly config: OidcConfig,
    private readonly options: OidcClientOptions = {},
  ) {}

  /** The URL to send the browser to, and what to keep until it comes back. */
  async beginLogin(redirectUri: string): Promise<{ authorizationUrl: URL; pending: PendingLogin }> {
    const configuration = await this.discover();
    const pending: PendingLogin = {
      state: openid.randomState(),
      nonce: openid.randomNonce(),
      codeVerifier: openid.randomPKCECodeVerifier(),
      redirectUri,
    };
    const authorizationUrl = openid.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: this.scopes(),
      response_type: 'code',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await openid.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { authorizationUrl, pending };
  }

  /**
   * Checks the callback against what was kept (state), exchanges the code (PKCE verifier),
   * validates the ID token (issuer, audience, expiry, nonce) and maps its claims, completed by the
   * UserInfo endpoint when the ID token lacks the username or groups claim.
   */
  async completeLogin(callbackQuery: URLSearchParams, pending: PendingLogin): Promise<OidcIdentity> {
    const configuration = await this.discover();
    const currentUrl = new URL(pending.redirectUri);
    currentUrl.search = callbackQuery.toString();
    try {
      const tokens = await openid.authorizationCodeGrant(configuration, currentUrl, {
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        pkceCodeVerifier: pending.codeVerifier,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      if (idToken === undefined) throw new OidcLoginError(502, 'the identity provider sent no ID token');
      let claims: Record<string, unknown> = { ...idToken };
      const missing = [this.config.usernameclaim, this.config.groupsclaim].some((name) => !hasClaim(claims, name));
      if (missing && configuration.serverMetadata().userinfo_endpoint !== undefined) {
        const userinfo = await openid.fetchUserInfo(configuration, tokens.access_token, idToken.sub);
        // The ID token is validated and wins; the UserInfo response only fills gaps.
        claims = { ...userinfo, ...claims };
      }
      return identityFromClaims(configuration.serverMetadata().issuer, claims, this.config);
    } catch (error) {
      throw asLoginError(error);
    }
  }

  private scopes(): string {
    const scopes = new Set(this.config.scopes);
    scopes.add('openid');
    return [...scopes].join(' ');
  }

  private discover(): Promise<openid.Configuration> {
    if (this.configuration === undefined) {
      const issuer = new URL(this.config.issuer);
      const secret = this.config.clientsecret;
      const clientAuthentication =
        secret !== undefined && secret !== '' ? openid.ClientSecretBasic(secret) : openid.None();
      this.configuration = openid
        .discovery(issuer, this.config.clientid, undefined, clientAuthentication, {
          timeout: this.options.timeoutSeconds ?? 10,
          // An http:// issuer is the operator's explicit choice (a test or lab identity provider).
          ...(issuer.protocol === 'http:' ? { execute: [openid.allowInsecureRequests] } : {}),
        })
        .catch((error: unknown) => {
          this.configuration = undefined;
          throw new OidcLoginError(502, `the identity provider ${issuer.origin} cannot be reached`, { cause: error });
        });
    }
    return this.configuration;
  }
}

function hasClaim(claims: Record<string, unknown>, name: string): boolean {
  if (claims[name] !== undefined) return true;
  const [first] = name.split('.');
  return name.includes('.') && first !== undefined && claims[first] !== undefined;
}

/** The provider's refusals and answers that fail validation are 400; no answer at all is 502. */
function asLoginError(error: unknown): OidcLoginError {
  if (error instanceof OidcLoginError) return error;
  if (error instanceof openid.AuthorizationResponseError) {
    return new OidcLoginError(400, `the identity provider refused the sign-in: ${error.error}`, { cause: error });
  }
  if (error instanceof openid.ResponseBodyError) {
    return new OidcLoginError(400, `the identity provider refused the code: ${error.error}`, { cause: error });
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('OAUTH_')) {
    return new OidcLoginError(400, `the identity provider's answer did not validate: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return new OidcLoginError(502, 'the identity provider cannot be reached', { cause: error });
}
