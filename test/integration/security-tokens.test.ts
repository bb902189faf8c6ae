import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import {
  type AccessEntry,
  addMember,
  assertBearerRefusal,
  basicOf,
  bearer,
  type Credentials,
  call,
  createProject,
  createUser,
  getManifestAs,
  getToken,
  pushImageAs,
  putManifestAs,
  type SmallImage,
  serverSigningKey,
  signToken,
  smallImage,
  unsigned,
  withPayload,
} from '../helpers/auth.ts';
import { assertError, rawRequest } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Attempts to do more than a token allows, each refused by the real server: a pull token used to
 * push, a token for one repository used on another, a token whose claims were edited, unsigned,
 * expired, or signed by a stranger's key or for another issuer or audience. Every forged token is
 * paired with a correctly made one that works, so a refusal means the forgery was caught.
 */
const admin: Credentials = { username: 'admin', password: 'admin-password-for-tokens' };
const alice: Credentials = { username: 'alice', password: 'alice-password-1' };
const gary: Credentials = { username: 'gary', password: 'gary-password-1' };
const service = 'wharf';
const issuer = 'wharf';

const pullApp: AccessEntry[] = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
const pushApp: AccessEntry[] = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

describe('token escalation attempts (projects mode, built-in token service)', () => {
  let wharf: WharfProcess;
  let pushed: SmallImage;
  let serverKey: KeyObject;
  let serverKid: string;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    await createProject(wharf.url, admin, 'team');
    await createUser(wharf.url, admin, alice);
    await createUser(wharf.url, admin, gary);
    await addMember(wharf.url, admin, 'team', alice.username, 'developer');
    await addMember(wharf.url, admin, 'team', gary.username, 'guest');
    pushed = await pushImageAs(wharf.url, 'team/app', 'v1', basicOf(admin));
    await pushImageAs(wharf.url, 'team/other', 'v1', basicOf(admin));
    const key = await serverSigningKey(wharf.dataDir, wharf.url);
    serverKey = createPrivateKey(key.pem);
    serverKid = key.kid;
  });

  after(async () => {
    await wharf?.close();
  });

  /** A token as the server's own token service would sign it, with the claims given. */
  const forge = (access: readonly AccessEntry[], changes: Partial<Parameters<typeof signToken>[1]> = {}) =>
    signToken(serverKey, {
      algorithm: 'ES256',
      kid: serverKid,
      typ: 'JWT',
      issuer,
      audience: service,
      subject: 'alice',
      access,
      ...changes,
    });

  it('refuses a pull-only token used to push: blob upload and manifest PUT get 401 insufficient_scope', async () => {
    const token = await getToken(wharf.url, { as: alice, scopes: ['repository:team/app:pull'] });
    assert.equal(token.scope, 'repository:team/app:pull');
    const pull = await getManifestAs(wharf.url, 'team/app', 'v1', bearer(token.token));
    assert.equal(pull.status, 200, 'the token does what it grants');

    const upload = await call(wharf.url, 'POST', '/v2/team/app/blobs/uploads/', bearer(token.token));
    assertBearerRefusal(upload, 'insufficient_scope', 'repository:team/app:pull,push');
    const image = smallImage();
    const manifest = await putManifestAs(wharf.url, 'team/app', 'escalated', image.manifest, bearer(token.token));
    assertBearerRefusal(manifest, 'insufficient_scope', 'repository:team/app:pull,push');
    assertError(await getManifestAs(wharf.url, 'team/app', 'escalated', basicOf(admin)), 404, 'MANIFEST_UNKNOWN');
  });

  it('refuses a token for one repository on another: 401 insufficient_scope', async () => {
    const token = await getToken(wharf.url, { as: alice, scopes: ['repository:team/app:pull,push'] });
    assert.equal(token.scope, 'repository:team/app:pull,push');
    const read = await getManifestAs(wharf.url, 'team/other', 'v1', bearer(token.token));
    assertBearerRefusal(read, 'insufficient_scope', 'repository:team/other:pull');
    const write = await call(wharf.url, 'POST', '/v2/team/other/blobs/uploads/', bearer(token.token));
    assertBearerRefusal(write, 'insufficient_scope', 'repository:team/other:pull,push');
    // A prefix is not a parent: team/app grants nothing on team/app/nested.
    const nested = await call(wharf.url, 'POST', '/v2/team/app/nested/blobs/uploads/', bearer(token.token));
    assertBearerRefusal(nested, 'insufficient_scope', 'repository:team/app/nested:pull,push');
  });

  it('lets no request path smuggle another repository past the scope check', async () => {
    const token = await getToken(wharf.url, { as: alice, scopes: ['repository:team/app:pull,push'] });
    for (const path of [
      '/v2/team/app/../other/manifests/v1',
      '/v2/team/app/%2e%2e/other/manifests/v1',
      '/v2/team/app%2F..%2Fother/manifests/v1',
      '/v2/team//other/manifests/v1',
    ]) {
      const result = await rawRequest(wharf.url, {
        method: 'GET',
        path,
        headers: { authorization: bearer(token.token) },
      });
      assertError(result, 400, 'NAME_INVALID');
    }
    // An upload session of team/app driven through team/other's URL needs push on team/other.
    const started = await call(wharf.url, 'POST', '/v2/team/app/blobs/uploads/', bearer(token.token));
    assert.equal(started.status, 202);
    const id = (started.headers.get('location') ?? '').split('/').pop()?.split('?')[0] ?? '';
    const hijack = await call(wharf.url, 'PATCH', `/v2/team/other/blobs/uploads/${id}`, bearer(token.token), {
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from('smuggled'),
    });
    assertBearerRefusal(hijack, 'insufficient_scope', 'repository:team/other:pull,push');
  });

  it('refuses a token whose payload was edited after signing (scope widened, signature kept): 401 invalid_token', async () => {
    const token = await getToken(wharf.url, { as: gary, scopes: ['repository:team/app:pull'] });
    const widened = withPayload(token.token, (claims) => ({ ...claims, access: pushApp }));
    assert.deepEqual(decodeJwt(widened).access, pushApp);
    const upload = await call(wharf.url, 'POST', '/v2/team/app/blobs/uploads/', bearer(widened));
    assertBearerRefusal(upload, 'invalid_token');
    const renamed = withPayload(token.token, (claims) => ({ ...claims, sub: 'admin' }));
    assertBearerRefusal(await getManifestAs(wharf.url, 'team/app', 'v1', bearer(renamed)), 'invalid_token');
    const prolonged = withPayload(token.token, (claims) => ({ ...claims, exp: (claims.exp ?? 0) + 86_400 }));
    assertBearerRefusal(await getManifestAs(wharf.url, 'team/app', 'v1', bearer(prolonged)), 'invalid_token');
    // The untouched token still works, so the signature check is what refused the others.
    assert.equal((await getManifestAs(wharf.url, 'team/app', 'v1', bearer(token.token))).status, 200);
  });

  it('refuses an unsigned token (alg none): 401 invalid_token', async () => {
    const token = await forge(pushApp);
    assert.equal((await getManifestAs(wharf.url, 'team/app', 'v1', bearer(token))).status, 200);
    const none = unsigned(token);
    assert.equal(none.split('.')[2], '');
    assertBearerRefusal(await getManifestAs(wharf.url, 'team/app', 'v1', bearer(none)), 'invalid_token');
    const upload = await call(wharf.url, 'POST', '/v2/team/app/blobs/uploads/', bearer(none));
    assertBearerRefusal(upload, 'invalid_token');
  });

  it('refuses an expired token (past the 60 s leeway): 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await forge(pullApp, { issuedAt: now - 600, lifetimeSeconds: 300 });
    const result = await getManifestAs(wharf.url, 'team/app', 'v1', bearer(expired));
    assertBearerRefusal(result, 'invalid_token');
    assert.match(result.text(), /token expired/);
    const notYet = await forge(pullApp, { issuedAt: now + 600 });
    assertBearerRefusal(await getManifestAs(wharf.url, 'team/app', 'v1', bearer(notYet)), 'invalid_token');
    const fresh = await forge(pullApp);
    assert.equal((await getManifestAs(wharf.url, 'team/app', 'v1', bearer(fresh))).status, 200);
  });

  it('refuses tokens of another issuer, for another audience, or signed by a key it does not trust', async () => {
    const otherIssuer = await forge(pullApp, { issuer: 'someone-else' });
    const otherAudience = await forge(pullApp, { audience: 'another-registry' });
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const signedByStranger = (kid: string) =>
      signToken(stranger, {
        algorithm: 'ES256',
        kid,
        typ: 'JWT',
        issuer,
        audience: service,
        subject: 'alice',
        access: pullApp,
      });
    const strangerNamedAsServer = await signedByStranger(serverKid);
    const strangerOwnKid = await signedByStranger('STRANGER-KEY');
    for (const [what, token, reason] of [
      ['another issuer', otherIssuer, /untrusted issuer/],
      ['another audience', otherAudience, /another audience/],
      ["a stranger's key under the server's kid", strangerNamedAsServer, /signature is invalid/],
      ["a stranger's key under its own kid", strangerOwnKid, /untrusted key/],
    ] as const) {
      const result = await getManifestAs(wharf.url, 'team/app', 'v1', bearer(token));
      assertBearerRefusal(result, 'invalid_token');
      assert.match(result.text(), reason, what);
    }
  });

  it("refuses an HMAC token keyed with the server's public key (algorithm confusion)", async () => {
    const publicPem = createPublicKey(serverKey).export({ type: 'spki', format: 'pem' });
    const token = await new SignJWT({ access: pushApp })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: serverKid })
      .setIssuer(issuer)
      .setAudience(service)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(String(publicPem)));
    const result = await call(wharf.url, 'POST', '/v2/team/app/blobs/uploads/', bearer(token));
    assertBearerRefusal(result, 'invalid_token');
  });

  it('refuses a guest’s DELETE: through a token 401 insufficient_scope (delete not granted), through Basic 403 DENIED', async () => {
    const token = await getToken(wharf.url, { as: gary, scopes: ['repository:team/app:pull,delete'] });
    assert.equal(token.scope, 'repository:team/app:pull');
    const path = `/v2/team/app/manifests/${pushed.digest}`;
    assertBearerRefusal(
      await call(wharf.url, 'DELETE', path, bearer(token.token)),
      'insufficient_scope',
      'repository:team/app:delete',
    );
    const denied = await call(wharf.url, 'DELETE', path, basicOf(gary));
    assertError(denied, 403, 'DENIED');
    assert.equal(denied.headers.get('www-authenticate'), null);
    // A developer may push but not delete either.
    assertError(await call(wharf.url, 'DELETE', path, basicOf(alice)), 403, 'DENIED');
    const still = await getManifestAs(wharf.url, 'team/app', pushed.digest, basicOf(admin));
    assert.equal(still.status, 200, 'the manifest is still there');
    // The project admin may: the refusals above were the roles', not a disabled delete.
    const adminToken = await getToken(wharf.url, { as: admin, scopes: ['repository:team/app:delete'] });
    assert.equal(adminToken.scope, 'repository:team/app:delete');
    assert.equal((await call(wharf.url, 'DELETE', path, bearer(adminToken.token))).status, 202);
    assertError(await getManifestAs(wharf.url, 'team/app', pushed.digest, basicOf(admin)), 404, 'MANIFEST_UNKNOWN');
  });
});
