import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  addMember,
  api,
  assertBearerRefusal,
  basic,
  basicOf,
  bearer,
  type Credentials,
  call,
  challengeOf,
  createProject,
  createRobot,
  createUser,
  getManifestAs,
  getToken,
  pushBlobAs,
  pushImageAs,
  requestToken,
  type SmallImage,
} from '../helpers/auth.ts';
import { assertError, type HttpResult, send, sha256 } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Projects mode seen by callers who try to reach what is not theirs: disabled and expired robots,
 * blob mounts out of a project the caller cannot read, the catalog, anonymous pulls, pushes into
 * projects that do not exist.
 *
 * Projects: `mine` (mallory and alice are developers), `private` (alice is a guest, mallory nothing),
 * `pub` (private at first, made public later in the run).
 */
const admin: Credentials = { username: 'admin', password: 'admin-password-for-access' };
const alice: Credentials = { username: 'alice', password: 'alice-password-1' };
const mallory: Credentials = { username: 'mallory', password: 'mallory-password-1' };

/** Blobs that only private/repo holds. */
const secrets = {
  fromSecret: randomBytes(900),
  discoveredSecret: randomBytes(900),
  tokenSecret: randomBytes(900),
  aliceSecret: randomBytes(900),
  aliceDiscovered: randomBytes(900),
};

function assertUploadSession(result: HttpResult, repo: string): void {
  assert.equal(result.status, 202, `expected an upload session, got ${result.status}: ${result.text()}`);
  assert.match(result.headers.get('location') ?? '', new RegExp(`^(https?://[^/]+)?/v2/${repo}/blobs/uploads/[^/?]+`));
  assert.ok(result.headers.get('docker-upload-uuid'), 'Docker-Upload-UUID');
  assert.equal(result.headers.get('range'), '0-0');
}

function assertMounted(result: HttpResult, repo: string, digest: string): void {
  assert.equal(result.status, 201, `expected a mount, got ${result.status}: ${result.text()}`);
  assert.equal(result.headers.get('docker-content-digest'), digest);
  assert.match(result.headers.get('location') ?? '', new RegExp(`/v2/${repo}/blobs/${digest}$`));
}

describe('access to what is not the caller’s (projects mode)', () => {
  let wharf: WharfProcess;
  let libImage: SmallImage;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    for (const name of ['mine', 'private', 'pub']) await createProject(wharf.url, admin, name);
    await createUser(wharf.url, admin, alice);
    await createUser(wharf.url, admin, mallory);
    await addMember(wharf.url, admin, 'mine', alice.username, 'developer');
    await addMember(wharf.url, admin, 'mine', mallory.username, 'developer');
    await addMember(wharf.url, admin, 'private', alice.username, 'guest');
    await pushImageAs(wharf.url, 'mine/app', 'v1', basicOf(admin));
    await pushImageAs(wharf.url, 'mine/tools', 'v1', basicOf(admin));
    await pushImageAs(wharf.url, 'private/repo', 'v1', basicOf(admin));
    libImage = await pushImageAs(wharf.url, 'pub/lib', 'v1', basicOf(admin));
    for (const secret of Object.values(secrets)) await pushBlobAs(wharf.url, 'private/repo', secret, basicOf(admin));
  });

  after(async () => {
    await wharf?.close();
  });

  describe('robots', () => {
    let ci: Credentials;

    before(async () => {
      ci = await createRobot(wharf.url, admin, 'mine', 'ci', ['pull', 'push']);
    });

    it('a disabled robot is refused at /service/token and at /v2/ with Basic (401); enabled again, it works', async () => {
      const works = await requestToken(wharf.url, { as: ci, scopes: ['repository:mine/app:pull'] });
      assert.equal(works.status, 200);
      const offline = await send(
        `${wharf.url}/service/token?service=wharf&offline_token=true&client_id=ci&scope=repository:mine/app:pull`,
        { headers: { authorization: basicOf(ci) } },
      );
      const refreshToken = offline.json<{ refresh_token?: string }>().refresh_token;
      assert.ok(refreshToken, 'a refresh token for the robot');
      const refresh = () =>
        send(`${wharf.url}/service/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: refreshToken,
            service: 'wharf',
            client_id: 'ci',
            scope: 'repository:mine/app:pull',
          }).toString(),
        });
      assert.equal((await refresh()).status, 200, 'the refresh token works while the robot is enabled');
      assert.equal((await getManifestAs(wharf.url, 'mine/app', 'v1', basicOf(ci))).status, 200);

      const disable = await api(wharf.url, 'PATCH', '/projects/mine/robots/ci', {
        as: admin,
        body: { disabled: true },
      });
      assert.equal(disable.status, 200, disable.text());
      assert.equal(disable.json<{ disabled: boolean }>().disabled, true);

      const token = await requestToken(wharf.url, { as: ci, scopes: ['repository:mine/app:pull'] });
      assertError(token, 401, 'UNAUTHORIZED');
      // The token service itself takes Basic credentials, so its challenge is Basic.
      assert.match(token.headers.get('www-authenticate') ?? '', /^Basic realm="/);
      const registry = await getManifestAs(wharf.url, 'mine/app', 'v1', basicOf(ci));
      assertError(registry, 401, 'UNAUTHORIZED');
      assert.equal(challengeOf(registry).scheme, 'bearer');
      const push = await call(wharf.url, 'POST', '/v2/mine/app/blobs/uploads/', basicOf(ci));
      assertError(push, 401, 'UNAUTHORIZED');
      assertError(await refresh(), 401, 'UNAUTHORIZED');

      const enable = await api(wharf.url, 'PATCH', '/projects/mine/robots/ci', {
        as: admin,
        body: { disabled: false },
      });
      assert.equal(enable.status, 200);
      assert.equal((await getManifestAs(wharf.url, 'mine/app', 'v1', basicOf(ci))).status, 200);
    });

    it('an expired robot is refused at /service/token and at /v2/ (401)', async () => {
      const old = await createRobot(wharf.url, admin, 'mine', 'old', ['pull']);
      // Lifetimes are whole days through the API; the expiry is moved into the past in the database.
      const db = new Database(join(wharf.dataDir, 'wharf.db'));
      try {
        db.pragma('busy_timeout = 5000');
        const changed = db
          .prepare('UPDATE robots SET expires_at = ? WHERE name = ?')
          .run(Date.now() - 1000, old.username);
        assert.equal(changed.changes, 1);
      } finally {
        db.close();
      }
      assertError(
        await requestToken(wharf.url, { as: old, scopes: ['repository:mine/app:pull'] }),
        401,
        'UNAUTHORIZED',
      );
      assertError(await getManifestAs(wharf.url, 'mine/app', 'v1', basicOf(old)), 401, 'UNAUTHORIZED');
    });
  });

  describe('blob mounts', () => {
    const fromSecret = sha256(secrets.fromSecret);
    const discoveredSecret = sha256(secrets.discoveredSecret);
    const tokenSecret = sha256(secrets.tokenSecret);
    const aliceSecret = sha256(secrets.aliceSecret);
    const aliceDiscovered = sha256(secrets.aliceDiscovered);

    it('mounting from a private project the caller cannot read gives an upload session (202), not the blob', async () => {
      const result = await call(
        wharf.url,
        'POST',
        `/v2/mine/app/blobs/uploads/?mount=${fromSecret}&from=private/repo`,
        basicOf(mallory),
      );
      assertUploadSession(result, 'mine/app');
      assert.equal((await call(wharf.url, 'HEAD', `/v2/mine/app/blobs/${fromSecret}`, basicOf(mallory))).status, 404);
      assertError(
        await call(wharf.url, 'GET', `/v2/mine/app/blobs/${fromSecret}`, basicOf(mallory)),
        404,
        'BLOB_UNKNOWN',
      );
    });

    it('automatic content discovery (mount without from) does not find a blob held only in a private project (202)', async () => {
      const result = await call(
        wharf.url,
        'POST',
        `/v2/mine/app/blobs/uploads/?mount=${discoveredSecret}`,
        basicOf(mallory),
      );
      assertUploadSession(result, 'mine/app');
      assert.equal(
        (await call(wharf.url, 'HEAD', `/v2/mine/app/blobs/${discoveredSecret}`, basicOf(mallory))).status,
        404,
      );
    });

    it('a token without pull on the source gives an upload session, even for a member of the source project', async () => {
      const mallorys = await getToken(wharf.url, {
        as: mallory,
        scopes: ['repository:mine/app:pull,push', 'repository:private/repo:pull'],
      });
      assert.equal(mallorys.scope, 'repository:mine/app:pull,push');
      const path = `/v2/mine/app/blobs/uploads/?mount=${tokenSecret}&from=private/repo`;
      assertUploadSession(await call(wharf.url, 'POST', path, bearer(mallorys.token)), 'mine/app');
      // alice may read private/repo, but this token of hers was not given pull there.
      const narrow = await getToken(wharf.url, { as: alice, scopes: ['repository:mine/app:pull,push'] });
      assertUploadSession(await call(wharf.url, 'POST', path, bearer(narrow.token)), 'mine/app');
      assertUploadSession(
        await call(wharf.url, 'POST', `/v2/mine/app/blobs/uploads/?mount=${tokenSecret}`, bearer(narrow.token)),
        'mine/app',
      );
      assert.equal((await call(wharf.url, 'HEAD', `/v2/mine/app/blobs/${tokenSecret}`, basicOf(admin))).status, 404);
      // With pull on the source in the token, the same mount is done.
      const both = await getToken(wharf.url, {
        as: alice,
        scopes: ['repository:mine/app:pull,push', 'repository:private/repo:pull'],
      });
      assert.equal(both.scope, 'repository:mine/app:pull,push repository:private/repo:pull');
      assertMounted(await call(wharf.url, 'POST', path, bearer(both.token)), 'mine/app', tokenSecret);
    });

    it('a member who may read the source project mounts (201), from it and by discovery', async () => {
      const result = await call(
        wharf.url,
        'POST',
        `/v2/mine/alice/blobs/uploads/?mount=${aliceSecret}&from=private/repo`,
        basicOf(alice),
      );
      assertMounted(result, 'mine/alice', aliceSecret);
      const discovered = await call(
        wharf.url,
        'POST',
        `/v2/mine/alice/blobs/uploads/?mount=${aliceDiscovered}`,
        basicOf(alice),
      );
      assertMounted(discovered, 'mine/alice', aliceDiscovered);
      assert.equal((await call(wharf.url, 'HEAD', `/v2/mine/alice/blobs/${aliceSecret}`, basicOf(alice))).status, 200);
    });
  });

  describe('catalog, anonymous pulls and missing projects', () => {
    it('lists to a user exactly the repositories of the one project they see', async () => {
      // mine/alice holds mounted blobs but no manifest, so no catalog lists it.
      const catalog = await call(wharf.url, 'GET', '/v2/_catalog', basicOf(mallory));
      assert.equal(catalog.status, 200);
      assert.deepEqual(catalog.json(), { repositories: ['mine/app', 'mine/tools'] });
      const token = await getToken(wharf.url, { as: mallory, scopes: ['registry:catalog:*'] });
      assert.equal(token.scope, 'registry:catalog:*');
      const viaToken = await call(wharf.url, 'GET', '/v2/_catalog', bearer(token.token));
      assert.deepEqual(viaToken.json(), { repositories: ['mine/app', 'mine/tools'] });
      const all = await call(wharf.url, 'GET', '/v2/_catalog', basicOf(admin));
      assert.deepEqual(all.json(), {
        repositories: ['mine/app', 'mine/tools', 'private/repo', 'pub/lib'],
      });
      const anonymous = await call(wharf.url, 'GET', '/v2/_catalog', undefined);
      assertError(anonymous, 401, 'UNAUTHORIZED');
      assert.equal(challengeOf(anonymous).params.scope, 'registry:catalog:*');
    });

    it('serves a public project to anonymous callers and refuses a private one (401)', async () => {
      const before = await getManifestAs(wharf.url, 'pub/lib', 'v1', undefined);
      assertError(before, 401, 'UNAUTHORIZED');
      const made = await api(wharf.url, 'PUT', '/projects/pub', { as: admin, body: { public: true } });
      assert.ok(made.status === 200 || made.status === 204, `make pub public: ${made.status} ${made.text()}`);

      const direct = await getManifestAs(wharf.url, 'pub/lib', 'v1', undefined);
      assert.equal(direct.status, 200, direct.text());
      assert.ok(direct.body.equals(libImage.manifest));
      const layer = await call(wharf.url, 'GET', `/v2/pub/lib/blobs/${libImage.layer.digest}`, undefined);
      assert.equal(layer.status, 200);
      assert.equal(sha256(layer.body), libImage.layer.digest);
      const token = await getToken(wharf.url, { scopes: ['repository:pub/lib:pull,push'] });
      assert.equal(token.scope, 'repository:pub/lib:pull');
      assert.equal((await getManifestAs(wharf.url, 'pub/lib', 'v1', bearer(token.token))).status, 200);
      assertError(await call(wharf.url, 'POST', '/v2/pub/lib/blobs/uploads/', undefined), 401, 'UNAUTHORIZED');

      const hidden = await getManifestAs(wharf.url, 'private/repo', 'v1', undefined);
      assertError(hidden, 401, 'UNAUTHORIZED');
      assert.equal(challengeOf(hidden).params.scope, 'repository:private/repo:pull');
      const nothing = await getToken(wharf.url, { scopes: ['repository:private/repo:pull'] });
      assert.equal(nothing.scope, '');
      assertBearerRefusal(
        await getManifestAs(wharf.url, 'private/repo', 'v1', bearer(nothing.token)),
        'insufficient_scope',
        'repository:private/repo:pull',
      );
      // Now public, pub's repositories join every catalog.
      const catalog = await call(wharf.url, 'GET', '/v2/_catalog', basicOf(mallory));
      assert.deepEqual(catalog.json(), { repositories: ['mine/app', 'mine/tools', 'pub/lib'] });
    });

    it('answers a push into a project that does not exist with 404 NAME_UNKNOWN naming the project', async () => {
      const upload = await call(wharf.url, 'POST', '/v2/ghost/app/blobs/uploads/', basicOf(mallory));
      assertError(upload, 404, 'NAME_UNKNOWN');
      const error = upload.json<{ errors: { message: string; detail: unknown }[] }>().errors[0];
      assert.match(error?.message ?? '', /project ghost does not exist/);
      assert.deepEqual(error?.detail, { project: 'ghost' });
      const manifest = await call(wharf.url, 'PUT', '/v2/ghost/app/manifests/v1', basicOf(mallory), {
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: Buffer.from('{}'),
      });
      assertError(manifest, 404, 'NAME_UNKNOWN');
      // Anonymous callers learn nothing about which projects exist: they are asked to authenticate.
      assertError(await call(wharf.url, 'POST', '/v2/ghost/app/blobs/uploads/', undefined), 401, 'UNAUTHORIZED');
      const projects = await api(wharf.url, 'GET', '/projects/ghost', { as: admin });
      assert.equal(projects.status, 404, 'no project was created');
    });

    it('refuses Basic credentials of nobody on /v2/ with 401, not as anonymous', async () => {
      const result = await getManifestAs(wharf.url, 'pub/lib', 'v1', basic('nobody', 'whatever-password'));
      assertError(result, 401, 'UNAUTHORIZED');
    });
  });
});

describe('auth.autocreateprojects', () => {
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  autocreateprojects: true', '  projects:', '    enabled: true'].join('\n'),
    });
    await createUser(wharf.url, admin, mallory);
  });

  after(async () => {
    await wharf?.close();
  });

  it('creates the project of a user’s first push, private, with the pusher as its project admin', async () => {
    const image = await pushImageAs(wharf.url, 'fresh/app', 'v1', basicOf(mallory));
    const project = await api(wharf.url, 'GET', '/projects/fresh', { as: mallory });
    assert.equal(project.status, 200, project.text());
    const body = project.json<{ name: string; public: boolean; created_by: string; current_user_role: string }>();
    assert.deepEqual(
      { name: body.name, public: body.public, created_by: body.created_by, role: body.current_user_role },
      { name: 'fresh', public: false, created_by: 'mallory', role: 'projectAdmin' },
    );
    const pulled = await getManifestAs(wharf.url, 'fresh/app', 'v1', basicOf(mallory));
    assert.ok(pulled.body.equals(image.manifest));
    assertError(await getManifestAs(wharf.url, 'fresh/app', 'v1', undefined), 401, 'UNAUTHORIZED');
  });

  it('creates nothing for anonymous callers (401) nor for robots (404 NAME_UNKNOWN)', async () => {
    assertError(await call(wharf.url, 'POST', '/v2/anon/app/blobs/uploads/', undefined), 401, 'UNAUTHORIZED');
    const robot = await createRobot(wharf.url, mallory, 'fresh', 'ci', ['pull', 'push']);
    const byRobot = await call(wharf.url, 'POST', '/v2/robotmade/app/blobs/uploads/', basicOf(robot));
    assertError(byRobot, 404, 'NAME_UNKNOWN');
    for (const name of ['anon', 'robotmade']) {
      assert.equal((await api(wharf.url, 'GET', `/projects/${name}`, { as: admin })).status, 404);
    }
  });
});
