import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { ResourceAccess } from '../../src/auth/access.ts';
import type { AuthServices, LoginLimiter } from '../../src/auth/auth-services.ts';
import type { Authenticator } from '../../src/auth/authenticator.ts';
import type { Authorizer } from '../../src/auth/authorizer.ts';
import type { Principal } from '../../src/auth/principal.ts';
import { authenticatedAuthorizer, tokenBoundAuthorizer } from '../../src/auth/simple-authorizers.ts';
import { RefreshTokens } from '../../src/auth/token/refresh-tokens.ts';
import { generatedKeyFileName, loadSigningKey, type SigningKey } from '../../src/auth/token/signing-key.ts';
import { TokenIssuer } from '../../src/auth/token/token-issuer.ts';
import { JwtTokenVerifier } from '../../src/auth/token/token-verifier.ts';
import { registerErrorHandler } from '../../src/http/error-handler.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { registerTokenRoutes, type TokenServiceDependencies } from '../../src/http/token/token-routes.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { RegistryService } from '../../src/registry/registry-service.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';
import { buildImageLayout, layoutTag } from '../helpers/images.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';

const service = 'registry.test';
const issuerName = 'wharf-token-test';

/** The accounts of the test: a fixed name and password each, as an htpasswd file would hold. */
const passwords = new Map([
  ['alice', 'alice-secret'],
  ['bob', 'bob-secret'],
  ['carol', 'carol-secret'],
]);

const passwordAuthenticator: Authenticator = {
  name: 'fixed',
  async authenticate(username, password) {
    const expected = passwords.get(username);
    if (expected === undefined) return { outcome: 'unknown' };
    if (password !== expected) return { outcome: 'rejected', reason: 'wrong password' };
    return { outcome: 'authenticated', principal: { name: username, source: 'htpasswd', groups: [], admin: false } };
  },
};

async function revalidate(name: string): Promise<Principal | undefined> {
  return passwords.has(name) ? { name, source: 'htpasswd', groups: [], admin: false } : undefined;
}

/** Locks an account out for 30 s after three failed logins; remembers the addresses it was given. */
class CountingLimiter implements LoginLimiter {
  readonly failures = new Map<string, number>();
  readonly addresses = new Set<string>();
  async retryAfter(account: string, address: string): Promise<number> {
    this.addresses.add(address);
    return (this.failures.get(account) ?? 0) >= 3 ? 30 : 0;
  }
  async recordFailure(account: string): Promise<void> {
    this.failures.set(account, (this.failures.get(account) ?? 0) + 1);
  }
  async recordSuccess(account: string): Promise<void> {
    this.failures.delete(account);
  }
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope: string;
  refresh_token?: string;
}

interface ErrorResponse {
  errors: { code: string; message: string }[];
}

async function tokenServiceDeps(key: SigningKey, authorizer: Authorizer): Promise<TokenServiceDependencies> {
  return {
    chain: [passwordAuthenticator],
    authorizer,
    limiter: new CountingLimiter(),
    issuer: new TokenIssuer(key, { issuer: issuerName, lifetimeMs: 5 * 60_000 }),
    refreshTokens: new RefreshTokens(key, { issuer: issuerName, lifetimeMs: 24 * 3_600_000, revalidate }),
    service,
  };
}

/** A Fastify app set up as the registry's (no body parsing, the one error handler) with only the token routes. */
async function startTokenService(
  deps: TokenServiceDependencies,
): Promise<{ app: FastifyInstance; url: string; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line));
      done();
    },
  });
  const app = Fastify({ logger: { level: 'info', stream } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  registerErrorHandler(app);
  registerTokenRoutes(app, deps);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  return { app, url: `http://127.0.0.1:${address.port}`, logs };
}

function tokenUrl(base: string, query: Record<string, string | string[]>): string {
  const url = new URL('/service/token', base);
  for (const [name, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(name, one);
  }
  return url.toString();
}

function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

describe('token service over HTTP', () => {
  let directory: string;
  let key: SigningKey;
  let deps: TokenServiceDependencies;
  let server: { app: FastifyInstance; url: string; logs: Record<string, unknown>[] };
  let verifier: JwtTokenVerifier;
  const limiter = () => deps.limiter as CountingLimiter;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wharf-token-service-'));
    key = await loadSigningKey({ algorithm: 'ES256', directory });
    deps = await tokenServiceDeps(key, authenticatedAuthorizer(false));
    server = await startTokenService(deps);
    verifier = JwtTokenVerifier.forIssuer(key, { issuer: issuerName, service });
  });
  after(async () => {
    await server?.app.close();
    await rm(directory, { recursive: true, force: true });
  });

  async function grantsOf(token: string): Promise<readonly ResourceAccess[] | undefined> {
    return (await verifier.verify(token)).grants;
  }

  it('GET with Basic credentials returns a token for the requested scopes, in the response shape clients read', async () => {
    const response = await fetch(
      tokenUrl(server.url, {
        service,
        scope: ['repository:team/app:pull,push', 'repository:team/lib:pull registry:catalog:*'],
        account: 'alice',
        client_id: 'docker',
      }),
      { headers: { authorization: basic('alice', 'alice-secret') } },
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await response.json()) as TokenResponse;
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'scope', 'token']);
    assert.equal(body.access_token, body.token);
    assert.equal(body.expires_in, 300);
    assert.match(body.issued_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 5_000);
    const granted = [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'team/lib', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ];
    assert.equal(body.scope, 'repository:team/app:pull,push repository:team/lib:pull registry:catalog:*');
    const claims = decodeJwt(body.token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, service);
    assert.equal(claims.iss, issuerName);
    assert.equal(claims.client_id, 'docker');
    assert.deepEqual(await grantsOf(body.token), granted);
  });

  it('GET without credentials is anonymous: no access unless anonymous pull is on, then pull only', async () => {
    const closed = await fetch(tokenUrl(server.url, { service, scope: 'repository:team/app:pull,push' }));
    assert.equal(closed.status, 200);
    const closedBody = (await closed.json()) as TokenResponse;
    assert.equal(decodeJwt(closedBody.token).sub, '');
    assert.deepEqual(await grantsOf(closedBody.token), []);
    assert.equal(closedBody.refresh_token, undefined);

    const saved = deps.authorizer;
    deps.authorizer = authenticatedAuthorizer(true);
    try {
      const open = await fetch(
        tokenUrl(server.url, { service, scope: 'repository:team/app:pull,push', offline_token: 'true' }),
      );
      const openBody = (await open.json()) as TokenResponse;
      assert.deepEqual(await grantsOf(openBody.token), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
      assert.equal(openBody.refresh_token, undefined, 'anonymous callers get no refresh token');
    } finally {
      deps.authorizer = saved;
    }
  });

  it('never puts more into a token than was asked, whatever the authorizer answers', async () => {
    const saved = deps.authorizer;
    deps.authorizer = {
      name: 'generous',
      async grant() {
        return [
          { type: 'repository', name: 'team/app', actions: ['*'] },
          { type: 'repository', name: 'other/secret', actions: ['pull', 'push', 'delete'] },
        ];
      },
      async pullableRepositories() {
        return undefined;
      },
    };
    try {
      const response = await fetch(tokenUrl(server.url, { service, scope: 'repository:team/app:pull' }), {
        headers: { authorization: basic('alice', 'alice-secret') },
      });
      const body = (await response.json()) as TokenResponse;
      assert.deepEqual(await grantsOf(body.token), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    } finally {
      deps.authorizer = saved;
    }
  });

  it('offline_token=true returns a refresh token that the refresh_token grant redeems', async () => {
    const login = await fetch(tokenUrl(server.url, { service, client_id: 'docker', offline_token: 'true' }), {
      headers: { authorization: basic('alice', 'alice-secret') },
    });
    assert.equal(login.status, 200);
    const loginBody = (await login.json()) as TokenResponse;
    assert.ok(loginBody.refresh_token);
    assert.deepEqual(await grantsOf(loginBody.token), []);

    const refreshed = await fetch(
      new URL('/service/token', server.url),
      form({
        grant_type: 'refresh_token',
        refresh_token: loginBody.refresh_token,
        service,
        client_id: 'docker',
        scope: 'repository:team/app:pull',
      }),
    );
    assert.equal(refreshed.status, 200);
    const body = (await refreshed.json()) as TokenResponse;
    assert.equal(body.refresh_token, undefined);
    assert.equal(body.scope, 'repository:team/app:pull');
    assert.equal(decodeJwt(body.access_token).sub, 'alice');
    assert.deepEqual(await grantsOf(body.access_token), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);

    const offline = await fetch(
      new URL('/service/token', server.url),
      form({
        grant_type: 'refresh_token',
        refresh_token: loginBody.refresh_token,
        service,
        client_id: 'docker',
        access_type: 'offline',
      }),
    );
    assert.equal(((await offline.json()) as TokenResponse).refresh_token, loginBody.refresh_token);

    const otherClient = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'refresh_token', refresh_token: loginBody.refresh_token, service, client_id: 'containerd' }),
    );
    assert.equal(otherClient.status, 401);
    assert.equal(((await otherClient.json()) as ErrorResponse).errors[0]?.code, 'UNAUTHORIZED');

    const forged = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'refresh_token', refresh_token: body.access_token, service, client_id: 'docker' }),
    );
    assert.equal(forged.status, 401, 'an access token is not a refresh token');
  });

  it('a refresh token stops working when its account is removed', async () => {
    const login = await fetch(
      new URL('/service/token', server.url),
      form({
        grant_type: 'password',
        username: 'carol',
        password: 'carol-secret',
        service,
        client_id: 'ci',
        access_type: 'offline',
      }),
    );
    const { refresh_token: refreshToken } = (await login.json()) as TokenResponse;
    assert.ok(refreshToken);
    passwords.delete('carol');
    try {
      const refreshed = await fetch(
        new URL('/service/token', server.url),
        form({ grant_type: 'refresh_token', refresh_token: refreshToken, service, client_id: 'ci' }),
      );
      assert.equal(refreshed.status, 401);
      assert.match(((await refreshed.json()) as ErrorResponse).errors[0]?.message ?? '', /no longer exists/);
    } finally {
      passwords.set('carol', 'carol-secret');
    }
  });

  it('POST grant_type=password returns an access token, and a refresh token for access_type=offline', async () => {
    const response = await fetch(
      new URL('/service/token', server.url),
      form({
        grant_type: 'password',
        username: 'alice',
        password: 'alice-secret',
        service,
        client_id: 'containerd',
        access_type: 'offline',
        scope: 'repository:team/app:push,pull',
      }),
    );
    assert.equal(response.status, 200);
    const body = (await response.json()) as TokenResponse;
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    assert.ok(body.refresh_token);
    assert.deepEqual(await grantsOf(body.access_token), [
      { type: 'repository', name: 'team/app', actions: ['push', 'pull'] },
    ]);
  });

  it('wrong credentials are a 401 UNAUTHORIZED, on GET and on POST, and are logged with the user name', async () => {
    const get = await fetch(tokenUrl(server.url, { service, scope: 'repository:team/app:pull' }), {
      headers: { authorization: basic('alice', 'wrong') },
    });
    assert.equal(get.status, 401);
    assert.equal(get.headers.get('www-authenticate'), `Basic realm="${service}"`);
    const getBody = (await get.json()) as ErrorResponse;
    assert.equal(getBody.errors[0]?.code, 'UNAUTHORIZED');
    assert.equal(getBody.errors[0]?.message, 'invalid username or password');

    const unknown = await fetch(tokenUrl(server.url, { service }), {
      headers: { authorization: basic('mallory', 'x') },
    });
    assert.equal(unknown.status, 401);

    const post = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'password', username: 'alice', password: 'wrong', service }),
    );
    assert.equal(post.status, 401);
    assert.equal(((await post.json()) as ErrorResponse).errors[0]?.code, 'UNAUTHORIZED');

    const bearer = await fetch(tokenUrl(server.url, { service }), { headers: { authorization: 'Bearer abc' } });
    assert.equal(bearer.status, 401);

    const failures = server.logs.filter((line) => line.msg === 'login failed');
    assert.ok(failures.some((line) => line['auth.user.name'] === 'alice' && line['auth.method'] === 'basic'));
    assert.ok(failures.some((line) => line['auth.user.name'] === 'mallory'));
    assert.ok(failures.some((line) => line['auth.user.name'] === 'alice' && line['auth.method'] === 'password'));
    const successes = server.logs.filter((line) => line.msg === 'login succeeded');
    assert.ok(successes.some((line) => line['auth.user.name'] === 'alice'));
    assert.ok(
      server.logs.every((line) => !JSON.stringify(line).includes('alice-secret')),
      'passwords never logged',
    );
    assert.ok(limiter().addresses.has('127.0.0.1'));
    // A success clears alice's failures.
    const ok = await fetch(tokenUrl(server.url, { service }), {
      headers: { authorization: basic('alice', 'alice-secret') },
    });
    assert.equal(ok.status, 200);
    assert.equal(limiter().failures.get('alice'), undefined);
  });

  it('locks an account out with 429 TOOMANYREQUESTS and Retry-After, even for the right password', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await fetch(tokenUrl(server.url, { service }), {
        headers: { authorization: basic('bob', 'nope') },
      });
      assert.equal(response.status, 401);
    }
    const locked = await fetch(tokenUrl(server.url, { service }), {
      headers: { authorization: basic('bob', 'bob-secret') },
    });
    assert.equal(locked.status, 429);
    assert.equal(locked.headers.get('retry-after'), '30');
    assert.equal(((await locked.json()) as ErrorResponse).errors[0]?.code, 'TOOMANYREQUESTS');
    const lockedPost = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'password', username: 'bob', password: 'bob-secret', service }),
    );
    assert.equal(lockedPost.status, 429);
    assert.equal(lockedPost.headers.get('retry-after'), '30');
    assert.equal(limiter().failures.get('bob'), 3, 'a refused attempt while locked out is not checked at all');
  });

  it('refuses requests it cannot serve with a precise 4xx', async () => {
    const otherService = await fetch(tokenUrl(server.url, { service: 'elsewhere.example.com' }));
    assert.equal(otherService.status, 400);
    assert.match(((await otherService.json()) as ErrorResponse).errors[0]?.message ?? '', /unknown service/);

    const mismatch = await fetch(tokenUrl(server.url, { service, account: 'bob' }), {
      headers: { authorization: basic('alice', 'alice-secret') },
    });
    assert.equal(mismatch.status, 400);

    const grant = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'client_credentials', service }),
    );
    assert.equal(grant.status, 400);
    assert.match(((await grant.json()) as ErrorResponse).errors[0]?.message ?? '', /unsupported grant_type/);

    const missing = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'password', username: 'alice' }),
    );
    assert.equal(missing.status, 400);

    const json = await fetch(new URL('/service/token', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: 'alice', password: 'alice-secret' }),
    });
    assert.equal(json.status, 415);

    const huge = await fetch(
      new URL('/service/token', server.url),
      form({ grant_type: 'password', scope: 'x'.repeat(70_000) }),
    );
    assert.equal(huge.status, 413);
  });

  it('publishes the signing key as a JWKS that verifies its tokens', async () => {
    const response = await fetch(new URL('/service/jwks.json', server.url));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/jwk-set\+json/);
    const jwks = (await response.json()) as { keys: Record<string, string>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]?.kid, key.keyId);
    assert.equal(jwks.keys[0]?.d, undefined);

    const issued = (await (
      await fetch(tokenUrl(server.url, { service, scope: 'repository:team/app:pull' }), {
        headers: { authorization: basic('alice', 'alice-secret') },
      })
    ).json()) as TokenResponse;
    const { payload } = await jwtVerify(issued.token, createLocalJWKSet(jwks), {
      issuer: issuerName,
      audience: service,
    });
    assert.equal(payload.sub, 'alice');

    // The same JWKS, saved to a file, configures another Wharf in token consumer mode.
    const jwksPath = join(directory, 'wharf-jwks.json');
    await writeFile(jwksPath, JSON.stringify(jwks));
    const consumer = await JwtTokenVerifier.fromConfig({
      realm: `${server.url}/service/token`,
      service,
      issuer: issuerName,
      jwks: jwksPath,
      autoredirect: false,
    });
    assert.deepEqual((await consumer.verify(issued.token)).grants, [
      { type: 'repository', name: 'team/app', actions: ['pull'] },
    ]);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitForChallenge(url: string, hasExited: () => boolean, output: () => string): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`docker-registry exited before listening\n${output()}`);
    try {
      const response = await fetch(`${url}/v2/`);
      const challenge = response.headers.get('www-authenticate');
      if (response.status === 401 && challenge) return challenge;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`docker-registry did not answer /v2/ within 15 s\n${output()}`);
}

const layoutLayers = (tag: string) => [
  { files: { 'etc/hostname': `${tag}\n` } },
  { files: { [`opt/${tag}/data.txt`]: `token auth ${tag}\n` } },
];

describe('CNCF Distribution 2 in token mode obeys the tokens of the token service', () => {
  let work: string;
  let key: SigningKey;
  let tokenService: { app: FastifyInstance; url: string };
  let registry: { url: string; host: string; stop(): Promise<void> };
  let layout: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-token-distribution-'));
    key = await loadSigningKey({ algorithm: 'ES256', directory: work });
    tokenService = await startTokenService(await tokenServiceDeps(key, authenticatedAuthorizer(false)));

    // Distribution trusts a certificate of the signing key and finds it by the libtrust key ID in `kid`.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-key',
        join(work, generatedKeyFileName),
        '-out',
        'token-signer.crt',
        '-days',
        '2',
        '-subj',
        '/CN=wharf token signer',
      ],
      { cwd: work, stdio: 'pipe' },
    );
    const port = await freePort();
    const config = join(work, 'distribution.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log: { level: warn }',
        'storage:',
        `  filesystem: { rootdirectory: ${join(work, 'distribution-data')} }`,
        `http: { addr: "127.0.0.1:${port}" }`,
        'auth:',
        '  token:',
        `    realm: ${tokenService.url}/service/token`,
        `    service: ${service}`,
        `    issuer: ${issuerName}`,
        `    rootcertbundle: ${join(work, 'token-signer.crt')}`,
        '',
      ].join('\n'),
    );
    const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const url = `http://127.0.0.1:${port}`;
    const challenge = await waitForChallenge(
      url,
      () => child.exitCode !== null,
      () => output,
    );
    assert.equal(challenge, `Bearer realm="${tokenService.url}/service/token",service="${service}"`);
    registry = {
      url,
      host: `127.0.0.1:${port}`,
      stop: async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
    layout = join(work, 'layout');
    await buildImageLayout(layout, { tag: 'v1', layers: layoutLayers('distribution') });
  });
  after(async () => {
    await registry?.stop();
    await tokenService?.app.close();
    await rm(work, { recursive: true, force: true });
  });

  it('skopeo pushes and pulls with credentials, following the Bearer challenge to the token service', async () => {
    await skopeo([
      'copy',
      '--dest-creds',
      'alice:alice-secret',
      `oci:${layout}:v1`,
      `docker://${registry.host}/team/app:v1`,
    ]);
    const out = join(work, 'pulled');
    await skopeo([
      'copy',
      '--src-creds',
      'alice:alice-secret',
      `docker://${registry.host}/team/app:v1`,
      `oci:${out}:v1`,
    ]);
    assert.equal((await layoutTag(out, 'v1')).digest, (await layoutTag(layout, 'v1')).digest);
  });

  it('refuses anonymous pulls and wrong passwords', async () => {
    await assert.rejects(
      skopeo(['inspect', '--raw', `docker://${registry.host}/team/app:v1`]),
      (error: unknown) =>
        error instanceof SkopeoError && /unauthorized|authentication required|denied/i.test(error.stderr),
    );
    await assert.rejects(
      skopeo(['inspect', '--raw', '--creds', 'alice:wrong', `docker://${registry.host}/team/app:v1`]),
      (error: unknown) =>
        error instanceof SkopeoError && /unauthorized|incorrect username or password|401/i.test(error.stderr),
    );
  });

  it('accepts a token obtained through a refresh token, and only for its scope', async () => {
    const login = (await (
      await fetch(tokenUrl(tokenService.url, { service, client_id: 'docker', offline_token: 'true' }), {
        headers: { authorization: basic('alice', 'alice-secret') },
      })
    ).json()) as TokenResponse;
    const refreshed = (await (
      await fetch(
        new URL('/service/token', tokenService.url),
        form({
          grant_type: 'refresh_token',
          refresh_token: login.refresh_token ?? '',
          service,
          client_id: 'docker',
          scope: 'repository:team/app:pull',
        }),
      )
    ).json()) as TokenResponse;
    const tags = await fetch(`${registry.url}/v2/team/app/tags/list`, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    assert.equal(tags.status, 200);
    assert.deepEqual(await tags.json(), { name: 'team/app', tags: ['v1'] });
    const other = await fetch(`${registry.url}/v2/team/other/tags/list`, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    assert.equal(other.status, 401);
    assert.match(other.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  });
});

describe('the registry with the built-in token service, driven by skopeo', () => {
  let work: string;
  let app: FastifyInstance;
  let host: string;
  let layout: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-token-registry-'));
    const key = await loadSigningKey({ algorithm: 'ES256', directory: work });
    const deps = await tokenServiceDeps(key, authenticatedAuthorizer(false));
    const filesystem = new FilesystemDriver(join(work, 'data'));
    await filesystem.init();
    const metadata = new MetadataStore(await openSqlite(join(work, 'registry.db')));
    const auth: AuthServices = {
      enabled: true,
      chain: deps.chain,
      basic: false,
      authorizer: tokenBoundAuthorizer(deps.authorizer),
      tokens: JwtTokenVerifier.forIssuer(key, { issuer: issuerName, service }),
      limiter: deps.limiter,
      challenge: { scheme: 'bearer', realm: 'set once listening', service },
    };
    const server = createHttpServer({
      logger: createLogger(
        { level: 'warn', formatter: 'json', fields: {} },
        new Writable({ write: (_c, _e, done) => done() }),
      ),
      metrics: createMetrics(),
      registry: new RegistryService(filesystem, metadata, { deleteEnabled: true, readOnly: false }),
      auth,
      healthChecks: [],
      accessLog: false,
      headers: {},
      externalURL: undefined,
      metricsPath: undefined,
    });
    app = server.app;
    registerTokenRoutes(app, deps);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    host = `127.0.0.1:${address.port}`;
    auth.challenge = { scheme: 'bearer', realm: `http://${host}/service/token`, service };
    layout = join(work, 'layout');
    await buildImageLayout(layout, { tag: 'v1', layers: layoutLayers('wharf') });
  });
  after(async () => {
    await app?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('challenges with Bearer realm and service', async () => {
    const response = await fetch(`http://${host}/v2/`);
    assert.equal(response.status, 401);
    assert.equal(
      response.headers.get('www-authenticate'),
      `Bearer realm="http://${host}/service/token",service="${service}"`,
    );
  });

  it('pushes and pulls back the same image with a token obtained by password', async () => {
    await skopeo(['copy', '--dest-creds', 'alice:alice-secret', `oci:${layout}:v1`, `docker://${host}/team/app:v1`]);
    const out = join(work, 'pulled');
    await skopeo(['copy', '--src-creds', 'alice:alice-secret', `docker://${host}/team/app:v1`, `oci:${out}:v1`]);
    assert.equal((await layoutTag(out, 'v1')).digest, (await layoutTag(layout, 'v1')).digest);
  });

  it('refuses anonymous and wrongly authenticated pulls', async () => {
    await assert.rejects(
      skopeo(['inspect', '--raw', `docker://${host}/team/app:v1`]),
      (error: unknown) => error instanceof SkopeoError && /unauthorized|authentication required/i.test(error.stderr),
    );
    await assert.rejects(
      skopeo(['inspect', '--raw', '--creds', 'alice:wrong', `docker://${host}/team/app:v1`]),
      (error: unknown) =>
        error instanceof SkopeoError && /unauthorized|invalid username or password/i.test(error.stderr),
    );
  });

  it('a token scoped to one repository does not open another', async () => {
    const issued = (await (
      await fetch(tokenUrl(`http://${host}`, { service, scope: 'repository:team/app:pull' }), {
        headers: { authorization: basic('alice', 'alice-secret') },
      })
    ).json()) as TokenResponse;
    const own = await fetch(`http://${host}/v2/team/app/tags/list`, {
      headers: { authorization: `Bearer ${issued.token}` },
    });
    assert.equal(own.status, 200);
    const other = await fetch(`http://${host}/v2/team/other/tags/list`, {
      headers: { authorization: `Bearer ${issued.token}` },
    });
    assert.equal(other.status, 401);
    assert.match(
      other.headers.get('www-authenticate') ?? '',
      /scope="repository:team\/other:pull",error="insufficient_scope"/,
    );
  });
});
