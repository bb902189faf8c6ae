import { basicAuthorization, type CredentialSource, type Credentials, resolveCredentials } from './credentials.ts';
import { parseErrorBody, RegistryClientError } from './registry-client-error.ts';
import { coversScopes, mergeScopes } from './scope.ts';
import type { Challenge } from './www-authenticate.ts';

/** How the client reaches a token service; it retries and follows redirects like any request. */
export type TokenRequester = (
  url: URL,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; text: string }>;

interface CachedToken {
  realm: string;
  service: string;
  scopes: string[];
  token: string;
  /** When to stop using it: a little before it expires, so it never expires in flight. */
  renewAt: number;
}

/** Distribution's default when a token service does not say. */
const defaultLifetimeSeconds = 60;
const clientId = 'wharf';

/**
 * The authentication state of one registry: the scheme it asked for, and bearer tokens cached
 * per scope (a token for `pull,push` serves a later `pull` too) until shortly before they expire.
 * Concurrent requests for the same scope share one token request.
 */
export class RegistryAuth {
  private challenge: Challenge | undefined;
  private tokens: CachedToken[] = [];
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly source: CredentialSource | undefined,
    private readonly requestToken: TokenRequester,
  ) {}

  /** What the registry's last challenge asked for (`basic`, `bearer`), if it has challenged. */
  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** Records the challenge of a 401 (from the ping, or any request) without acting on it. */
  learn(challenges: readonly Challenge[]): Challenge | undefined {
    const chosen =
      challenges.find((challenge) => challenge.scheme === 'bearer' && challenge.params.realm) ??
      challenges.find((challenge) => challenge.scheme === 'basic');
    if (chosen) this.challenge = chosen;
    return chosen;
  }

  /** The Authorization header for a request that needs `scopes`; undefined to send none. */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const credentials = await this.resolvedCredentials();
    if (credentials && 'registryToken' in credentials) return `Bearer ${credentials.registryToken}`;
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      if (credentials === undefined) return undefined;
      if (!('password' in credentials)) {
        throw new RegistryClientError('the registry asks for a user name and password (Basic), not a token', {
          status: 401,
          code: 'UNAUTHORIZED',
        });
      }
      return basicAuthorization(credentials.username, credentials.password);
    }
    const token = await this.bearerToken(challenge, scopes, credentials);
    return `Bearer ${token.token}`;
  }

  /**
   * Acts on a 401: learns the challenge, forgets the token that was refused, and returns the scopes
   * to ask for on the one retry (the request's plus any the challenge names), or undefined when
   * sending again cannot help (Basic credentials refused, or none to send).
   */
  async challenged(
    challenges: readonly Challenge[],
    scopes: readonly string[],
    sent: string | undefined,
  ): Promise<string[] | undefined> {
    const chosen = this.learn(challenges);
    if (chosen === undefined) return undefined;
    const credentials = await this.resolvedCredentials();
    if (chosen.scheme === 'basic') {
      return sent === undefined && credentials !== undefined && 'password' in credentials ? [...scopes] : undefined;
    }
    if (credentials && 'registryToken' in credentials) return undefined;
    if (sent?.startsWith('Bearer ')) {
      const refused = sent.slice('Bearer '.length);
      this.tokens = this.tokens.filter((cached) => cached.token !== refused);
    }
    const extra = chosen.params.scope ? chosen.params.scope.split(' ') : [];
    return mergeScopes(scopes, extra);
  }

  private resolvedCredentials(): Promise<Credentials | undefined> {
    this.credentials ??= resolveCredentials(this.source);
    return this.credentials;
  }

  private async bearerToken(
    challenge: Challenge,
    wanted: readonly string[],
    credentials: Credentials | undefined,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm ?? '';
    const service = challenge.params.service ?? '';
    const scopes = mergeScopes(wanted);
    const now = Date.now();
    this.tokens = this.tokens.filter((cached) => cached.renewAt > now);
    const cached = this.tokens.find(
      (entry) => entry.realm === realm && entry.service === service && coversScopes(entry.scopes, scopes),
    );
    if (cached) return cached;
    const key = `${realm}\n${service}\n${scopes.join(' ')}`;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(realm, service, scopes, credentials).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async fetchToken(
    realm: string,
    service: string,
    scopes: string[],
    credentials: Credentials | undefined,
  ): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryClientError(`the registry's Bearer challenge has no usable realm ("${realm.slice(0, 200)}")`);
    }
    const requestedAt = Date.now();
    const answer =
      credentials && 'identityToken' in credentials
        ? await this.requestToken(url, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'refresh_token',
              refresh_token: credentials.identityToken,
              service,
              scope: scopes.join(' '),
              client_id: clientId,
            }).toString(),
          })
        : await this.requestToken(withTokenQuery(url, service, scopes), {
            method: 'GET',
            headers:
              credentials && 'password' in credentials
                ? { authorization: basicAuthorization(credentials.username, credentials.password) }
                : {},
          });
    if (answer.status !== 200) {
      const errors = parseErrorBody(answer.text);
      const reason = answer.status === 401 ? 'refused the credentials' : `answered ${answer.status}`;
      throw new RegistryClientError(
        `the token service ${url.origin}${url.pathname} ${reason}${errors[0]?.message ? `: ${errors[0].message}` : ''}`,
        {
          status: answer.status,
          code: errors[0]?.code ?? (answer.status === 401 ? 'UNAUTHORIZED' : undefined),
          errors,
        },
      );
    }
    const token = parseTokenAnswer(answer.text);
    const lifetimeMs = token.expiresInSeconds * 1000;
    const cached: CachedToken = {
      realm,
      service,
      scopes,
      token: token.token,
      renewAt: requestedAt + lifetimeMs - Math.min(30_000, lifetimeMs / 5),
    };
    this.tokens.push(cached);
    return cached;
  }
}

function withTokenQuery(realm: URL, service: string, scopes: readonly string[]): URL {
  const url = new URL(realm);
  if (service !== '') url.searchParams.set('service', service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  return url;
}

function parseTokenAnswer(text: string): { token: string; expiresInSeconds: number } {
  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    throw new RegistryClientError('the token service answered something that is not JSON');
  }
  const token = typeof json.token === 'string' && json.token !== '' ? json.token : json.access_token;
  if (typeof token !== 'string' || token === '') throw new RegistryClientError('the token service returned no token');
  const expiresIn =
    typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : defaultLifetimeSeconds;
  return { token, expiresInSeconds: expiresIn };
}
