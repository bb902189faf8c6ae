import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

export interface TestAccount {
  /** The `sub` claim, and what the sign-in form takes as the login. */
  sub: string;
  preferred_username?: string;
  email?: string;
  groups?: string[];
}

export interface TestClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

export interface OidcProviderOptions {
  /** Looked up at each sign-in: a test may add accounts or change their claims later. */
  accounts: TestAccount[];
  clients: TestClient[];
  /** Put the requested claims in the ID token too (Dex, Keycloak with mappers); UserInfo only otherwise. */
  claimsInIdToken?: boolean;
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:PORT` */
  issuer: string;
  /** Starts answering, with these accounts and clients; the issuer is known before. */
  configure(options: OidcProviderOptions): Promise<void>;
  close(): Promise<void>;
}

/** The few members of oidc-provider's Provider this harness uses (the package ships no types). */
interface ProviderInstance {
  callback(): (request: IncomingMessage, response: ServerResponse) => void;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

/**
 * A real OpenID Provider (oidc-provider, the certified implementation) on a kernel-chosen port,
 * with its development sign-in and consent forms: any login names an account by its `sub`, and
 * the password is not checked. PKCE is required of every client.
 */
export async function startOidcProvider(): Promise<TestOidcProvider> {
  let handler: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
  const server: Server = createServer((request, response) => {
    if (handler === undefined) {
      response.writeHead(503).end('not configured');
      return;
    }
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const issuer = `http://127.0.0.1:${address.port}`;

  return {
    issuer,
    async configure(options) {
      const { default: Provider } = (await import('oidc-provider' as string)) as { default: ProviderConstructor };
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      const signingKey = { ...(await exportJWK(privateKey)), kid: 'test', alg: 'RS256', use: 'sig' };
      const provider = new Provider(issuer, {
        clients: options.clients,
        jwks: { keys: [signingKey] },
        cookies: { keys: [randomBytes(16).toString('hex')] },
        claims: {
          openid: ['sub'],
          profile: ['preferred_username'],
          email: ['email'],
          groups: ['groups'],
        },
        conformIdTokenClaims: !options.claimsInIdToken,
        features: { devInteractions: { enabled: true } },
        pkce: { required: () => true },
        async findAccount(_context: unknown, sub: string) {
          // Read at each sign-in, so a test may add accounts or change their claims as it goes.
          const account = options.accounts.find((candidate) => candidate.sub === sub);
          if (account === undefined) return undefined;
          return { accountId: sub, claims: async () => ({ ...account }) };
        },
      });
      handler = provider.callback();
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
