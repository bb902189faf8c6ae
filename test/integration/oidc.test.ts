import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import type { Kysely } from 'kysely';
import { identityFromClaims } from '../../src/auth/oidc/oidc-claims.ts';
import { OidcCliSecretAuthenticator } from '../../src/auth/oidc/oidc-cli-secret-authenticator.ts';
import { OidcClient, type OidcConfig } from '../../src/auth/oidc/oidc-client.ts';
import { OidcLoginError } from '../../src/auth/oidc/oidc-login-error.ts';
import { SqlCliSecretStore } from '../../src/auth/oidc/sql-cli-secret-store.ts';
import {
  deriveLoginStateKey,
  loginStateCookieName,
  signLoginState,
  verifyLoginState,
} from '../../src/http/oidc/login-state-cookie.ts';
import { oidcUrlsFrom, registerOidcRoutes } from '../../src/http/oidc/oidc-routes.ts';
import { IdentityStore } from '../../src/metadata/identity-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { startOidcProvider, type TestAccount, type TestOidcProvider } from '../helpers/oidc-provider.ts';

const clientId = 'wharf';
const clientSecret = 'wharf-client-secret-0123456789abcdef';
const cookieKey = deriveLoginStateKey('http-secret-for-tests');

interface SignInRig {
  provider: TestOidcProvider;
  wharfUrl: string;
  db: Kysely<Database>;
  authenticator: OidcCliSecretAuthenticator;
  close(): Promise<void>;
}

/** oidc-provider, and a Fastify app with the sign-in routes over a fresh SQLite database. */
async function startSignInRig(
  accounts: TestAccount[],
  options: { claimsInIdToken?: boolean } = {},
): Promise<SignInRig> {
  const provider = await startOidcProvider();
  const dataDir = await mkdtemp(join(tmpdir(), 'wharf-oidc-'));
  const db = await openSqlite(join(dataDir, 'wharf.db'));
  const store = new SqlCliSecretStore(db);
  const config: OidcConfig = {
    issuer: provider.issuer,
    clientid: clientId,
    clientsecret: clientSecret,
    scopes: ['openid', 'profile', 'email', 'groups'],
    usernameclaim: 'preferred_username',
    groupsclaim: 'groups',
    admingroup: 'registry-admins',
  };
  const app = Fastify({ logger: false });
  registerOidcRoutes(app, { client: new OidcClient(config), store, cookieKey });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  const wharfUrl = `http://127.0.0.1:${address.port}`;
  await provider.configure({
    accounts,
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [`${wharfUrl}/oidc/callback`] }],
    claimsInIdToken: options.claimsInIdToken,
  });
  return {
    provider,
    wharfUrl,
    db,
    authenticator: new OidcCliSecretAuthenticator(store),
    async close() {
      await app.close();
      await provider.close();
      await db.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

describe('OIDC sign-in against oidc-provider', () => {
  let rig: SignInRig;
  let provider: TestOidcProvider;
  let wharfUrl: string;
  let db: Kysely<Database>;
  let authenticator: OidcCliSecretAuthenticator;
  const accounts: TestAccount[] = [
    {
      sub: 'u-alice',
      preferred_username: 'alice',
      email: 'alice@example.org',
      groups: ['developers', 'registry-admins'],
    },
    { sub: 'u-bob', preferred_username: 'bob', groups: ['developers'] },
    { sub: 'u-carol', preferred_username: 'carol', groups: [] },
    { sub: 'u-nameless', groups: [] },
  ];

  before(async () => {
    rig = await startSignInRig(accounts);
    ({ provider, wharfUrl, db, authenticator } = rig);
  });

  after(async () => {
    await rig?.close();
  });

  test('browser sign-in shows a CLI secret that docker login can use', async () => {
    const browser = new Browser();
    const callback = await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-alice');
    const response = await browser.get(callback);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(browser.cookie(wharfUrl, loginStateCookieName), undefined, 'the login state cookie is cleared');
    const page = await response.text();
    assert.match(page, /<span id="username">alice<\/span>/);
    assert.match(page, /docker login 127\.0\.0\.1:\d+ --username alice/);
    const secret = cliSecretIn(page);

    assert.deepEqual(await authenticator.authenticate('alice', secret), {
      outcome: 'authenticated',
      principal: { name: 'alice', source: 'oidc', groups: ['developers', 'registry-admins'], admin: true },
    });
    assert.deepEqual(await authenticator.authenticate('alice', `${secret}x`), {
      outcome: 'rejected',
      reason: 'invalid CLI secret',
    });
    assert.deepEqual(await authenticator.authenticate('alice', ''), {
      outcome: 'rejected',
      reason: 'invalid CLI secret',
    });
    assert.deepEqual(await authenticator.authenticate('nobody', secret), { outcome: 'unknown' });

    const user = await new IdentityStore(db).findUser('alice');
    assert.equal(user?.source, 'oidc');
    assert.equal(user?.password_hash, null);
    assert.equal(user?.email, 'alice@example.org');
    assert.match(user?.cli_secret_hash ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  test('the login redirect carries PKCE, state and nonce, and a signed HttpOnly cookie', async () => {
    const response = await fetch(`${wharfUrl}/oidc/login`, { redirect: 'manual' });
    assert.equal(response.status, 302);
    const location = new URL(response.headers.get('location') ?? '');
    assert.equal(location.origin, provider.issuer);
    assert.equal(location.searchParams.get('client_id'), clientId);
    assert.equal(location.searchParams.get('response_type'), 'code');
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(location.searchParams.get('redirect_uri'), `${wharfUrl}/oidc/callback`);
    assert.equal(location.searchParams.get('scope'), 'openid profile email groups');
    const state = location.searchParams.get('state') ?? '';
    assert.ok(state.length >= 32 && (location.searchParams.get('nonce') ?? '').length >= 32);
    const [setCookie] = response.headers.getSetCookie();
    assert.match(
      setCookie ?? '',
      /^wharf_oidc_login=[^;]+; Path=\/oidc\/callback; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    const value = /^wharf_oidc_login=([^;]+)/.exec(setCookie ?? '')?.[1];
    const pending = verifyLoginState(value, cookieKey);
    assert.equal(pending?.state, state);
    assert.equal(pending?.redirectUri, `${wharfUrl}/oidc/callback`);
  });

  test('signing in again replaces the secret and refreshes the groups', async () => {
    const bob = accounts.find((account) => account.sub === 'u-bob');
    assert.ok(bob);
    const first = cliSecretIn(await new Browser().signIn(`${wharfUrl}/oidc/login`, 'u-bob'));
    bob.groups = ['developers', 'qa'];
    bob.preferred_username = 'robert';
    const second = cliSecretIn(await new Browser().signIn(`${wharfUrl}/oidc/login`, 'u-bob'));
    assert.notEqual(first, second);
    assert.deepEqual(await authenticator.authenticate('bob', first), {
      outcome: 'rejected',
      reason: 'invalid CLI secret',
    });
    // The name is bound to the subject at the first sign-in; a rename at the provider keeps it.
    assert.deepEqual(await authenticator.authenticate('bob', second), {
      outcome: 'authenticated',
      principal: { name: 'bob', source: 'oidc', groups: ['developers', 'qa'], admin: false },
    });
    assert.deepEqual(await authenticator.authenticate('robert', second), { outcome: 'unknown' });
  });

  test('a tampered, missing or replayed state cookie is refused with 400', async () => {
    const browser = new Browser();
    const callback = await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-carol');
    const original = browser.cookie(wharfUrl, loginStateCookieName);
    assert.ok(original);
    const [body, signature] = original.split('.');
    assert.ok(body && signature);
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, nonce: 'forged' })).toString('base64url');

    const tampered = await fetch(callback, {
      redirect: 'manual',
      headers: { cookie: `${loginStateCookieName}=${forged}.${signature}` },
    });
    assert.equal(tampered.status, 400);
    assert.match(await tampered.text(), /missing, expired or altered/);
    const missing = await fetch(callback, { redirect: 'manual' });
    assert.equal(missing.status, 400);

    const accepted = await browser.get(callback);
    assert.equal(accepted.status, 200);
    const replayed = await fetch(callback, { headers: { cookie: `${loginStateCookieName}=${original}` } });
    assert.equal(replayed.status, 400, 'the code was used once');
  });

  test('a callback that does not match the kept state, nonce or PKCE verifier is refused', async () => {
    const alterations = [
      { field: 'state', message: /did not validate/ },
      { field: 'nonce', message: /did not validate/ },
      { field: 'codeVerifier', message: /refused the code: invalid_grant/ },
    ] as const;
    for (const { field, message } of alterations) {
      const browser = new Browser();
      const callback = await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-carol');
      const pending = verifyLoginState(browser.cookie(wharfUrl, loginStateCookieName), cookieKey);
      assert.ok(pending);
      const altered = signLoginState(
        { ...pending, [field]: `another-${field}-0123456789abcdef0123456789abcdef` },
        cookieKey,
      );
      const response = await fetch(callback, { headers: { cookie: `${loginStateCookieName}=${altered}` } });
      assert.equal(response.status, 400, field);
      assert.match(await response.text(), message, field);
    }
  });

  test('a cookie signed with another key is refused', async () => {
    const browser = new Browser();
    const callback = await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-carol');
    const pending = verifyLoginState(browser.cookie(wharfUrl, loginStateCookieName), cookieKey);
    assert.ok(pending);
    const foreign = signLoginState(pending, deriveLoginStateKey('another-secret'));
    const response = await fetch(callback, { headers: { cookie: `${loginStateCookieName}=${foreign}` } });
    assert.equal(response.status, 400);
  });

  test('a user who cancels at the provider gets 400', async () => {
    const browser = new Browser();
    const callback = await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-nameless', { cancel: true });
    assert.equal(new URL(callback).searchParams.get('error'), 'access_denied');
    const response = await browser.get(callback);
    assert.equal(response.status, 400);
    assert.match(await response.text(), /refused the sign-in: access_denied/);
  });

  test('an account without the username claim is refused with 403', async () => {
    const browser = new Browser();
    const page = await browser.get(await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-nameless'));
    assert.equal(page.status, 403);
    assert.match(await page.text(), /no &#34;preferred_username&#34; claim/);
  });

  test('a name that belongs to a local user is refused', async () => {
    const identities = new IdentityStore(db);
    const now = Date.now();
    await identities.insertUser({
      username: 'dave',
      password_hash: 'x',
      email: null,
      admin: 1,
      disabled: 0,
      source: 'local',
      cli_secret_hash: null,
      created_at: now,
      updated_at: now,
      password_changed_at: null,
    });
    accounts.push({ sub: 'u-dave-impostor', preferred_username: 'dave', groups: ['registry-admins'] });
    const browser = new Browser();
    const response = await browser.get(await browser.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-dave-impostor'));
    assert.equal(response.status, 403);
    assert.match(await response.text(), /already belongs to another account/);
    assert.deepEqual(await authenticator.authenticate('dave', 'anything'), { outcome: 'unknown' });
  });

  test('a disabled OIDC user keeps no access', async () => {
    const browser = new Browser();
    const secret = cliSecretIn(await browser.signIn(`${wharfUrl}/oidc/login`, 'u-carol'));
    assert.equal((await authenticator.authenticate('carol', secret)).outcome, 'authenticated');
    await new IdentityStore(db).updateUser('carol', { disabled: 1 });
    assert.deepEqual(await authenticator.authenticate('carol', secret), {
      outcome: 'rejected',
      reason: 'user disabled',
    });
    const again = new Browser();
    const response = await again.get(await again.signInAtProvider(`${wharfUrl}/oidc/login`, 'u-carol'));
    assert.equal(response.status, 403);
    await new IdentityStore(db).updateUser('carol', { disabled: 0 });
  });
});

describe('OIDC sign-in edge cases', () => {
  test('claims the provider puts in the ID token are used as they are', async () => {
    const rig = await startSignInRig([{ sub: 'u-fay', preferred_username: 'fay', groups: ['registry-admins'] }], {
      claimsInIdToken: true,
    });
    try {
      const secret = cliSecretIn(await new Browser().signIn(`${rig.wharfUrl}/oidc/login`, 'u-fay'));
      assert.deepEqual(await rig.authenticator.authenticate('fay', secret), {
        outcome: 'authenticated',
        principal: { name: 'fay', source: 'oidc', groups: ['registry-admins'], admin: true },
      });
    } finally {
      await rig.close();
    }
  });

  test('an unreachable identity provider answers 502', async () => {
    const port = await closedPort();
    const app = Fastify({ logger: false });
    const client = new OidcClient({
      issuer: `http://127.0.0.1:${port}`,
      clientid: 'wharf',
      scopes: ['openid'],
      usernameclaim: 'preferred_username',
      groupsclaim: 'groups',
    });
    const dataDir = await mkdtemp(join(tmpdir(), 'wharf-oidc-'));
    const db = await openSqlite(join(dataDir, 'wharf.db'));
    registerOidcRoutes(app, { client, store: new SqlCliSecretStore(db), cookieKey });
    try {
      const response = await app.inject({ method: 'GET', url: '/oidc/login' });
      assert.equal(response.statusCode, 502);
      assert.match(response.body, /cannot be reached/);
    } finally {
      await app.close();
      await db.destroy();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('CLI secrets expire when a lifetime is set', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wharf-oidc-'));
    const db = await openSqlite(join(dataDir, 'wharf.db'));
    let now = 1_000_000;
    const store = new SqlCliSecretStore(db, { secretLifetimeMs: 60_000, now: () => now });
    try {
      const identity = {
        issuer: 'https://idp',
        subject: 's',
        username: 'erin',
        email: undefined,
        groups: [],
        admin: false,
      };
      assert.equal(await store.recordLogin(identity, 'wharf_cli_secret'), 'erin');
      assert.equal((await store.verify('erin', 'wharf_cli_secret')).status, 'valid');
      now += 60_000;
      assert.deepEqual(await store.verify('erin', 'wharf_cli_secret'), {
        status: 'invalid',
        reason: 'CLI secret expired; sign in again to get a new one',
      });
    } finally {
      await db.destroy();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('the callback URL comes from redirecturl, else http.host', () => {
    assert.deepEqual(oidcUrlsFrom({}, 'https://registry.example.com'), {
      redirectUrl: 'https://registry.example.com/oidc/callback',
      registryHost: 'registry.example.com',
    });
    assert.deepEqual(
      oidcUrlsFrom({ redirecturl: 'https://r.example.com:8443/oidc/callback' }, 'https://r.example.com:8443'),
      {
        redirectUrl: 'https://r.example.com:8443/oidc/callback',
        registryHost: 'r.example.com:8443',
      },
    );
    assert.deepEqual(oidcUrlsFrom({}, undefined), { redirectUrl: undefined, registryHost: undefined });
  });

  test('claims map to an identity, nested group claims included', () => {
    const mapping = { usernameclaim: 'preferred_username', groupsclaim: 'groups', admingroup: '/admins' };
    assert.deepEqual(
      identityFromClaims(
        'https://idp',
        { sub: 's1', preferred_username: 'ann', groups: ['/devs', '/admins', 7] },
        mapping,
      ),
      {
        issuer: 'https://idp',
        subject: 's1',
        username: 'ann',
        email: undefined,
        groups: ['/admins', '/devs'],
        admin: true,
      },
    );
    const keycloak = identityFromClaims(
      'https://idp',
      { sub: 's2', email: 'x@y', realm_access: { roles: ['pusher'] } },
      { usernameclaim: 'email', groupsclaim: 'realm_access.roles' },
    );
    assert.equal(keycloak.username, 'x@y');
    assert.deepEqual(keycloak.groups, ['pusher']);
    assert.deepEqual(
      identityFromClaims('i', { sub: 's', u: 'a', groups: 'one' }, { ...mapping, usernameclaim: 'u' }).groups,
      ['one'],
    );
    assert.throws(() => identityFromClaims('i', { sub: 's', preferred_username: 'a:b' }, mapping), OidcLoginError);
    assert.throws(() => identityFromClaims('i', { preferred_username: 'a' }, mapping), /subject/);
  });
});

function cliSecretIn(page: string): string {
  const secret = /<code id="cli-secret">([^<]+)<\/code>/.exec(page)?.[1];
  assert.ok(secret, 'the page shows a CLI secret');
  assert.match(secret, /^wharf_cli_[A-Za-z0-9_-]{43}$/);
  return secret;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

interface StoredCookie {
  value: string;
  path: string;
}

/**
 * Enough of a browser for the sign-in: follows redirects by hand, keeps cookies per origin and
 * path, and submits the provider's sign-in and consent forms.
 */
class Browser {
  private readonly jars = new Map<string, Map<string, StoredCookie>>();

  cookie(origin: string, name: string): string | undefined {
    return this.jars.get(new URL(origin).origin)?.get(name)?.value;
  }

  async get(url: string): Promise<Response> {
    return this.request(url, { method: 'GET' });
  }

  /** Goes through the provider's forms and returns the callback URL it redirects to, unvisited. */
  async signInAtProvider(loginUrl: string, login: string, options: { cancel?: boolean } = {}): Promise<string> {
    const callbackOrigin = new URL(loginUrl).origin;
    let response = await this.get(loginUrl);
    for (let step = 0; step < 20; step++) {
      if (response.status >= 300 && response.status < 400) {
        const next = new URL(response.headers.get('location') ?? '', response.url).href;
        if (new URL(next).origin === callbackOrigin) return next;
        response = await this.get(next);
        continue;
      }
      assert.equal(response.status, 200, `unexpected ${response.status} at ${response.url}`);
      const html = await response.text();
      if (options.cancel) {
        const abort = /href="([^"]*\/abort)"/.exec(html)?.[1];
        assert.ok(abort, 'the provider page links to cancel');
        response = await this.get(new URL(decodeEntities(abort), response.url).href);
        continue;
      }
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      assert.ok(action, `a form at ${response.url}`);
      const fields = new URLSearchParams();
      for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
        fields.set(match[1] ?? '', decodeEntities(match[2] ?? ''));
      }
      if (/name="login"/.test(html)) {
        fields.set('login', login);
        fields.set('password', 'not-checked');
      }
      response = await this.request(new URL(decodeEntities(action), response.url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: fields.toString(),
      });
    }
    throw new Error('the sign-in did not come back to Wharf');
  }

  /** The whole flow; returns the page Wharf shows. */
  async signIn(loginUrl: string, login: string): Promise<string> {
    const response = await this.get(await this.signInAtProvider(loginUrl, login));
    const page = await response.text();
    assert.equal(response.status, 200, page);
    return page;
  }

  private async request(url: string, init: RequestInit): Promise<Response> {
    const target = new URL(url);
    const jar = this.jars.get(target.origin) ?? new Map<string, StoredCookie>();
    this.jars.set(target.origin, jar);
    const cookies = [...jar.entries()]
      .filter(([, cookie]) => target.pathname.startsWith(cookie.path))
      .map(([name, cookie]) => `${name}=${cookie.value}`);
    const headers = new Headers(init.headers);
    if (cookies.length > 0) headers.set('cookie', cookies.join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const equals = pair.indexOf('=');
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      const attribute = (key: string) =>
        attributes.find((item) => item.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1);
      const expires = attribute('expires');
      const expired =
        attribute('max-age') === '0' || (expires !== undefined && new Date(expires).getTime() <= Date.now());
      if (expired || value === '') jar.delete(name);
      else jar.set(name, { value, path: attribute('path') ?? '/' });
    }
    return response;
  }
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCharCode(Number.parseInt(code, 16)))
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}
