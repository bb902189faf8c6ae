import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import {
  type AccessEntry,
  assertBearerRefusal,
  assertSameImage,
  basic,
  bearer,
  call,
  getManifestAs,
  pushImageAs,
  signToken,
  unsigned,
  withPayload,
} from '../helpers/auth.ts';
import { assertError, send, sha256 } from '../helpers/http.ts';
import { buildImageLayout } from '../helpers/images.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Token consumer mode (`auth.token` with a JWKS): an external token server, played here by keys the
 * test generates, decides access; the registry believes exactly the `access` claim of a token
 * signed by a trusted key for the configured issuer and service, and nothing else.
 */
const realm = 'https://auth.example.test/token';
const service = 'registry.example.test';
const issuer = 'https://auth.example.test';

function repository(name: string, ...actions: string[]): AccessEntry {
  return { type: 'repository', name, actions };
}

describe('token consumer mode (auth.token with jwks)', () => {
  let work: string;
  let wharf: WharfProcess;
  let ecKey: KeyObject;
  let rsaKey: KeyObject;
  let stranger: KeyObject;

  /** A token of the trusted token server (its EC key unless told). */
  const token = (access: readonly AccessEntry[], changes: Partial<Parameters<typeof signToken>[1]> = {}) =>
    signToken(ecKey, {
      algorithm: 'ES256',
      kid: 'server-ec',
      issuer,
      audience: service,
      subject: 'ci-user',
      access,
      ...changes,
    });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-security-consumer-'));
    ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const jwks = {
      keys: [
        { ...(await exportJWK(createPublicKey(ecKey))), kid: 'server-ec', alg: 'ES256', use: 'sig' },
        { ...(await exportJWK(createPublicKey(rsaKey))), kid: 'server-rsa', alg: 'RS256', use: 'sig' },
      ],
    };
    const jwksPath = join(work, 'jwks.json');
    await writeFile(jwksPath, JSON.stringify(jwks));
    wharf = await startWharf({
      configYaml: [
        'auth:',
        '  token:',
        `    realm: ${realm}`,
        `    service: ${service}`,
        `    issuer: ${issuer}`,
        `    jwks: ${jwksPath}`,
      ].join('\n'),
    });
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('challenges with the configured realm and service, and serves no token service of its own', async () => {
    const base = await send(`${wharf.url}/v2/`);
    assertError(base, 401, 'UNAUTHORIZED');
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${service}"`);
    const pull = await getManifestAs(wharf.url, 'acme/app', 'v1', undefined);
    assert.equal(
      pull.headers.get('www-authenticate'),
      `Bearer realm="${realm}",service="${service}",scope="repository:acme/app:pull"`,
    );
    assert.equal((await send(`${wharf.url}/service/token?service=${service}`)).status, 404);
  });

  it('grants a push token push and pull on its repository, and the bytes come back', async () => {
    const push = await token([repository('acme/app', 'pull', 'push')]);
    const image = await pushImageAs(wharf.url, 'acme/app', 'v1', bearer(push));
    // The token server's other key, an RSA one, is trusted as well.
    const pull = await signToken(rsaKey, {
      algorithm: 'RS256',
      kid: 'server-rsa',
      issuer,
      audience: service,
      subject: 'reader',
      access: [repository('acme/app', 'pull')],
    });
    const manifest = await getManifestAs(wharf.url, 'acme/app', 'v1', bearer(pull));
    assert.equal(manifest.status, 200);
    assert.ok(manifest.body.equals(image.manifest));
    const layer = await call(wharf.url, 'GET', `/v2/acme/app/blobs/${image.layer.digest}`, bearer(pull));
    assert.equal(layer.status, 200);
    assert.equal(sha256(layer.body), image.layer.digest);
  });

  it('grants exactly the access claim: not another repository, not push from pull, not delete from push', async () => {
    const push = await token([repository('acme/app', 'pull', 'push')]);
    assertBearerRefusal(
      await getManifestAs(wharf.url, 'acme/other', 'v1', bearer(push)),
      'insufficient_scope',
      'repository:acme/other:pull',
    );
    const pullOnly = await token([repository('acme/app', 'pull')]);
    assertBearerRefusal(
      await call(wharf.url, 'POST', '/v2/acme/app/blobs/uploads/', bearer(pullOnly)),
      'insufficient_scope',
      'repository:acme/app:pull,push',
    );
    const pushOnly = await token([repository('acme/app', 'push')]);
    assertBearerRefusal(
      await call(wharf.url, 'POST', '/v2/acme/app/blobs/uploads/', bearer(pushOnly)),
      'insufficient_scope',
      'repository:acme/app:pull,push',
    );
    const image = await pushImageAs(wharf.url, 'acme/app', 'doomed', bearer(push));
    const path = `/v2/acme/app/manifests/${image.digest}`;
    assertBearerRefusal(
      await call(wharf.url, 'DELETE', path, bearer(push)),
      'insufficient_scope',
      'repository:acme/app:delete',
    );
    const catalog = await call(wharf.url, 'GET', '/v2/_catalog', bearer(push));
    assertBearerRefusal(catalog, 'insufficient_scope', 'registry:catalog:*');
    // The catalog lists what the token may pull, nothing else.
    const catalogOnly = await token([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    assert.deepEqual((await call(wharf.url, 'GET', '/v2/_catalog', bearer(catalogOnly))).json(), { repositories: [] });
    const catalogAndApp = await token([
      { type: 'registry', name: 'catalog', actions: ['*'] },
      repository('acme/app', 'pull'),
    ]);
    assert.deepEqual((await call(wharf.url, 'GET', '/v2/_catalog', bearer(catalogAndApp))).json(), {
      repositories: ['acme/app'],
    });
    const nothing = await token([]);
    assert.equal((await call(wharf.url, 'GET', '/v2/', bearer(nothing))).status, 200);
    assertBearerRefusal(await getManifestAs(wharf.url, 'acme/app', 'v1', bearer(nothing)), 'insufficient_scope');

    const deleter = await token([repository('acme/app', 'delete')]);
    assert.equal((await call(wharf.url, 'DELETE', path, bearer(deleter))).status, 202);
    const wildcard = await token([repository('acme/app', '*')]);
    assertError(await getManifestAs(wharf.url, 'acme/app', image.digest, bearer(wildcard)), 404, 'MANIFEST_UNKNOWN');
  });

  it('takes a skopeo push and pull with --dest-registry-token and --src-registry-token', async () => {
    const layout = join(work, 'source');
    const image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [{ files: { 'etc/motd': 'token consumer\n' } }],
    });
    const push = await token([repository('acme/skopeo', 'pull', 'push')]);
    const reference = `docker://${wharf.host}/acme/skopeo:v1`;
    await skopeo(['copy', '--dest-registry-token', push, `oci:${layout}:v1`, reference]);
    const pulled = join(work, 'pulled');
    const pull = await token([repository('acme/skopeo', 'pull')]);
    await skopeo(['copy', '--src-registry-token', pull, reference, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
  });

  it('refuses a token for another audience, of another issuer, or signed by an untrusted key: 401 invalid_token', async () => {
    const access = [repository('acme/app', 'pull')];
    const good = await token(access);
    assert.equal((await getManifestAs(wharf.url, 'acme/app', 'v1', bearer(good))).status, 200);
    const now = Math.floor(Date.now() / 1000);
    const forged: [string, string, RegExp][] = [
      ['another audience', await token(access, { audience: 'other.example.test' }), /another audience/],
      ['another issuer', await token(access, { issuer: 'https://evil.example.test' }), /untrusted issuer/],
      [
        'an untrusted key under a trusted kid',
        await signToken(stranger, {
          algorithm: 'ES256',
          kid: 'server-ec',
          issuer,
          audience: service,
          subject: 'x',
          access,
        }),
        /signature is invalid/,
      ],
      [
        'an untrusted key under its own kid',
        await signToken(stranger, {
          algorithm: 'ES256',
          kid: 'stranger',
          issuer,
          audience: service,
          subject: 'x',
          access,
        }),
        /untrusted key/,
      ],
      ['an RSA kid with an EC signature', await token(access, { kid: 'server-rsa' }), /.+/],
      ['expired', await token(access, { issuedAt: now - 900, lifetimeSeconds: 300 }), /token expired/],
      [
        'edited claims',
        withPayload(good, (claims) => ({ ...claims, access: [repository('acme/app', '*')] })),
        /signature is invalid/,
      ],
      ['unsigned', unsigned(good), /.+/],
    ];
    for (const [what, forgery, reason] of forged) {
      const result = await getManifestAs(wharf.url, 'acme/app', 'v1', bearer(forgery));
      assertBearerRefusal(result, 'invalid_token');
      assert.match(result.text(), reason, what);
    }
    const hmac = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'HS256', kid: 'server-ec' })
      .setIssuer(issuer)
      .setAudience(service)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(await exportJWK(createPublicKey(ecKey)))));
    assertBearerRefusal(await getManifestAs(wharf.url, 'acme/app', 'v1', bearer(hmac)), 'invalid_token');
  });

  it('refuses Basic credentials: there is nobody to check them against', async () => {
    const result = await call(wharf.url, 'GET', '/v2/', basic('ci-user', 'password'));
    assertError(result, 401, 'UNAUTHORIZED');
    assert.equal(result.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${service}"`);
  });
});
